# ctest driver (cmake -P): builds and runs examples/cpp_consumer the way a user would.
#   MODE=install       cmake --install SIGREG_BUILD_DIR into a scratch prefix, then
#                      find_package(sigreg) against it
#   MODE=subdirectory  add_subdirectory(SIGREG_SOURCE_DIR) (CPU-only, to keep the test short)
# Inputs: MODE, SIGREG_SOURCE_DIR, SIGREG_BUILD_DIR, WORK_DIR, GENERATOR, CONSUMER_CXX_FLAGS (the
# build's CMAKE_CXX_FLAGS: a consumer of a sanitizer-instrumented libsigreg links with the same).
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}")
  endif()
  message("${out}")
endfunction()

set(consumer ${SIGREG_SOURCE_DIR}/examples/cpp_consumer)
file(REMOVE_RECURSE ${WORK_DIR})
if(MODE STREQUAL "install")
  set(prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${SIGREG_BUILD_DIR} --prefix ${prefix})
  foreach(f include/sigreg/sigreg.hpp include/sigreg/status.hpp lib/cmake/sigreg/sigregConfig.cmake
            lib/cmake/sigreg/sigregConfigVersion.cmake lib/cmake/sigreg/sigregTargets.cmake)
    if(NOT EXISTS ${prefix}/${f})
      message(FATAL_ERROR "cmake --install did not install ${f}")
    endif()
  endforeach()
  set(configure_args -DCMAKE_PREFIX_PATH=${prefix})
elseif(MODE STREQUAL "subdirectory")
  set(configure_args -DSIGREG_SOURCE_DIR=${SIGREG_SOURCE_DIR} -DSIGREG_ENABLE_CUDA=OFF)
else()
  message(FATAL_ERROR "MODE must be install or subdirectory, got '${MODE}'")
endif()
run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=${CONSUMER_CXX_FLAGS}" ${configure_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2)
run(${WORK_DIR}/build/app)
