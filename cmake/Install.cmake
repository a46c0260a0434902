# Install rules, the exported CMake package (find_package(nnc) -> nnc::frontend, nnc::runtime, ...)
# and the Debian package (cpack -G DEB). Included last by the top-level CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(NNC_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/nnc)
# Headers go under include/nnc/, not straight into include/ (/usr/include/support would clash).
set(NNC_INCLUDE_DIR ${CMAKE_INSTALL_INCLUDEDIR}/nnc)

# Libraries, under the names users link: nnc::frontend, nnc::runtime (nnrt: the runtime's core
# and training layers, nnc::core and nnc::train), and the parts these depend on. The tools are
# exported too, for add_custom_command(COMMAND nnc::nnc ...).
set_target_properties(nnc_proto PROPERTIES EXPORT_NAME proto)
set_target_properties(nnc_frontend PROPERTIES EXPORT_NAME frontend)
set_target_properties(nnrt PROPERTIES EXPORT_NAME runtime)
set_target_properties(nnrt_core PROPERTIES EXPORT_NAME core)
set_target_properties(nnrt_train PROPERTIES EXPORT_NAME train)
set_target_properties(nnrt_augment PROPERTIES EXPORT_NAME augment)
set_target_properties(nnrt_collective PROPERTIES EXPORT_NAME collective)
set_target_properties(nnrt_tool PROPERTIES EXPORT_NAME tool)
set_target_properties(nnc_export PROPERTIES EXPORT_NAME export)
set(NNC_EXAMPLES nnc-example-mlp nnc-example-cnn nnc-example-chargpt nnc-example-tabular)
# nnc finds libMLIR.so in /usr/lib/llvm-22/lib, outside the loader's path: keep the link
# directories as the installed binaries' RPATH.
set_target_properties(nnc nnc-opt nnrun ${NNC_EXAMPLES} PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS nnc_proto nnc_frontend nnrt nnrt_core nnrt_train nnrt_augment nnrt_collective
  nnrt_tool nnc_export
  EXPORT nncTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${NNC_INCLUDE_DIR})
install(TARGETS nnc nnc-opt nnrun EXPORT nncTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ${NNC_EXAMPLES} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Headers keep the source layout, so that #include "runtime/Executor.h" works as in the tree.
foreach(dir frontend support runtime export)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${NNC_INCLUDE_DIR}/${dir}
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${PROJECT_BINARY_DIR}/support/Version.h
        DESTINATION ${NNC_INCLUDE_DIR}/support)
install(FILES ${PROJECT_BINARY_DIR}/proto/model.pb.h ${PROJECT_BINARY_DIR}/proto/plan.pb.h
        DESTINATION ${NNC_INCLUDE_DIR}/proto)
# plan.pb.h includes "model.pb.h" by its bare name.
target_include_directories(nnc_proto PUBLIC $<INSTALL_INTERFACE:${NNC_INCLUDE_DIR}/proto>)

install(EXPORT nncTargets NAMESPACE nnc:: DESTINATION ${NNC_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/nncConfig.cmake.in
  ${PROJECT_BINARY_DIR}/nncConfig.cmake INSTALL_DESTINATION ${NNC_CMAKE_DIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nncConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nncConfig.cmake ${PROJECT_BINARY_DIR}/nncConfigVersion.cmake
        DESTINATION ${NNC_CMAKE_DIR})

# cpack -G DEB (run in the build directory): one package with the tools, libraries and headers.
# Building against it also needs the -dev packages of the libraries' dependencies.
set(CPACK_PACKAGE_NAME nnc)
set(CPACK_PACKAGE_CONTACT "nnc developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Ahead-of-time compiler and runtime for neural-network training")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libprotobuf32, libdnnl2, libllvm22, libmlir-22, libopenmpi3, zlib1g, libgomp1")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
  "libprotobuf-dev, libdnnl-dev, libopenmpi-dev, zlib1g-dev")
include(CPack)
