# cmake -DROOT=<runtime dir> -P CheckLayering.cmake: fails, naming the file and the line, when a
# file of the runtime's core (runtime/*, device/, collective/) includes a header of the training
# layer (trainer/, monitor/, augment/) or of the tool. The core must build and run without them.
file(GLOB core_files ${ROOT}/*.h ${ROOT}/*.cpp)
file(GLOB_RECURSE more_core_files ${ROOT}/device/*.h ${ROOT}/device/*.cpp
     ${ROOT}/collective/*.h ${ROOT}/collective/*.cpp)
list(APPEND core_files ${more_core_files})
set(violations "")
foreach(file ${core_files})
  file(STRINGS ${file} includes REGEX "^#include \"runtime/(trainer|monitor|augment|tool)/")
  foreach(line ${includes})
    file(RELATIVE_PATH name ${ROOT} ${file})
    string(APPEND violations "\n  runtime/${name}: ${line}")
  endforeach()
endforeach()
list(LENGTH core_files count)
if(violations)
  message(FATAL_ERROR "the runtime's core includes training headers:${violations}")
endif()
message(STATUS "nnrt-layering: ${count} core files include no training header")
