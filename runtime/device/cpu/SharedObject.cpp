// memfd + dlopen. Two details matter:
//   - The memfd stays open while the library is loaded. glibc matches dlopen paths against the
//     names of loaded objects before it looks at the file, so if the fd number were reused for a
//     second plan's library, dlopen("/proc/self/fd/N") would hand back the first one's code.
//   - RTLD_LOCAL keeps one plan's kernel symbols from resolving another's.
// A kernel's handle is its CpuKernel: the entry, and the row-share entry where the library has one.
#include "runtime/device/cpu/SharedObject.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

namespace nnrt {
namespace {

class LoadedObject final : public KernelLibrary {
public:
  LoadedObject(int fd, void *handle) : fd_(fd), handle_(handle) {}
  ~LoadedObject() override {
    if (handle_)
      dlclose(handle_);
    ::close(fd_);
  }
  void *kernel(size_t i) const override { return const_cast<CpuKernel *>(&kernels_[i]); }

  std::vector<CpuKernel> kernels_;

private:
  int fd_;
  void *handle_;
};

std::string dlopenError() {
  const char *message = dlerror();
  return message ? message : "unknown dlopen error";
}

/// The checks dlopen does not make before it maps the file: a truncated image or a segment or
/// section that points past its end would fault inside the loader (SIGBUS), not fail. A plan's
/// checksum catches accidents; this catches an image whose checksum was recomputed after damage.
/// (It is still native code: run plans you trust.)
nnc::Status validateElf(std::string_view image) {
  using nnc::Status;
  auto within = [&](uint64_t offset, uint64_t size) {
    return offset <= image.size() && size <= image.size() - offset;
  };
  Elf64_Ehdr header;
  if (image.size() < sizeof header)
    return Status::error("the kernel library is truncated (no ELF header)");
  std::memcpy(&header, image.data(), sizeof header);
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
      header.e_type != ET_DYN || header.e_machine != EM_X86_64)
    return Status::error("the kernel library is not a 64-bit x86 ELF shared object");
  if (header.e_phentsize != sizeof(Elf64_Phdr) ||
      !within(header.e_phoff, uint64_t(header.e_phnum) * sizeof(Elf64_Phdr)))
    return Status::error("the kernel library's program headers lie outside its " +
                         std::to_string(image.size()) + " bytes");
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr segment;
    std::memcpy(&segment, image.data() + header.e_phoff + i * sizeof segment, sizeof segment);
    if (segment.p_type != PT_NULL &&
        (!within(segment.p_offset, segment.p_filesz) || segment.p_filesz > segment.p_memsz))
      return Status::error("the kernel library's segment " + std::to_string(i) +
                           " lies outside its " + std::to_string(image.size()) + " bytes");
  }
  if (header.e_shnum > 0 &&
      (header.e_shentsize != sizeof(Elf64_Shdr) ||
       !within(header.e_shoff, uint64_t(header.e_shnum) * sizeof(Elf64_Shdr))))
    return Status::error("the kernel library's section headers lie outside its " +
                         std::to_string(image.size()) + " bytes");
  for (int i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr section;
    std::memcpy(&section, image.data() + header.e_shoff + i * sizeof section, sizeof section);
    if (section.sh_type != SHT_NOBITS && section.sh_type != SHT_NULL &&
        !within(section.sh_offset, section.sh_size))
      return Status::error("the kernel library's section " + std::to_string(i) +
                           " lies outside its " + std::to_string(image.size()) + " bytes");
  }
  return Status();
}

} // namespace

nnc::StatusOr<std::unique_ptr<KernelLibrary>>
loadSharedObject(std::string_view image, const std::vector<std::string> &symbols) {
  using nnc::Status;
  // dlopen's message for a non-ELF file ("invalid ELF header") does not say which file was meant.
  if (image.substr(0, 4) != "\177ELF")
    return Status::error("the kernel library is not an ELF shared object");
  if (Status s = validateElf(image); !s.ok())
    return s;
  int fd = memfd_create("nnc-kernels", MFD_CLOEXEC);
  if (fd < 0)
    return Status::error(std::string("cannot create a memfd for the kernel library: ") +
                         std::strerror(errno));
  for (size_t written = 0; written < image.size();) {
    ssize_t n = ::write(fd, image.data() + written, image.size() - written);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int error = errno;
      ::close(fd);
      return Status::error(std::string("cannot write the kernel library to a memfd: ") +
                           std::strerror(error));
    }
    written += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    std::string error = dlopenError();
    ::close(fd);
    return Status::error("cannot load the kernel library: " + error);
  }
  auto library = std::make_unique<LoadedObject>(fd, handle);
  for (const std::string &symbol : symbols) {
    dlerror();
    void *address = dlsym(handle, symbol.c_str());
    if (!address)
      return Status::error("the kernel library does not export '" + symbol + "'");
    // Optional: only kernels whose work splits into row shares have one.
    void *part = dlsym(handle, (symbol + kPartSuffix).c_str());
    library->kernels_.push_back({reinterpret_cast<CpuKernel::Entry>(address),
                                 reinterpret_cast<CpuKernel::PartEntry>(part)});
  }
  return std::unique_ptr<KernelLibrary>(std::move(library));
}

} // namespace nnrt
