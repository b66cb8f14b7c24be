# The CBLAS of the CPU backend (and of the driver's MLP and the CPU benchmarks): the interface
# target sigreg_cblas carries its link line, its cblas.h and, for a library whose symbols carry
# a prefix, SIGREG_CBLAS_PREFIX (host/cpu/cblas.hpp maps the names).
#
# SIGREG_BLAS:
#   auto            scipy-openblas when the build's Python can import it, else `system`
#   scipy-openblas  the PyPI wheel scipy-openblas32 (pip install scipy-openblas32): a current
#                   OpenBLAS built for every x86-64 core it knows, choosing one at load time by
#                   the CPU's features; its symbols carry the prefix scipy_, so it never clashes
#                   with another BLAS in the process (numpy's, torch's)
#   system          FindBLAS: OpenBLAS first, else whatever CBLAS it finds (BLA_VENDOR names one,
#                   e.g. -DBLA_VENDOR=FLAME for BLIS)
# Which kernels a CBLAS runs on this CPU is a run-time fact: sigreg::cpu_info() reports it, and
# says so when they are below what the CPU can run (an old OpenBLAS that does not know the CPU).
set(SIGREG_BLAS auto CACHE STRING "CBLAS of the CPU backend: auto, scipy-openblas or system")
set_property(CACHE SIGREG_BLAS PROPERTY STRINGS auto scipy-openblas system)
set(SIGREG_SCIPY_OPENBLAS_DIR "" CACHE PATH
  "scipy_openblas32 package folder (default: asked from the build's Python)")

set(SIGREG_BLAS_CHOSEN "")
set(SIGREG_BLA_VENDOR "")          # recorded in the package config (same BLAS for consumers)
set(SIGREG_SCIPY_OPENBLAS_CMAKE "")
if(SIGREG_BLAS STREQUAL "auto" OR SIGREG_BLAS STREQUAL "scipy-openblas")
  if(NOT SIGREG_SCIPY_OPENBLAS_DIR)
    find_package(Python COMPONENTS Interpreter QUIET)
    if(Python_Interpreter_FOUND)
      execute_process(
        COMMAND "${Python_EXECUTABLE}" -c
          "import os, scipy_openblas32 as s; print(os.path.dirname(s.__file__))"
        OUTPUT_VARIABLE _sigreg_sob OUTPUT_STRIP_TRAILING_WHITESPACE
        RESULT_VARIABLE _sigreg_sob_rc ERROR_QUIET)
      if(_sigreg_sob_rc EQUAL 0)
        set(SIGREG_SCIPY_OPENBLAS_DIR "${_sigreg_sob}" CACHE PATH
          "scipy_openblas32 package folder (default: asked from the build's Python)" FORCE)
      endif()
    endif()
  endif()
  if(SIGREG_SCIPY_OPENBLAS_DIR)
    find_package(OpenBLAS CONFIG QUIET
      PATHS "${SIGREG_SCIPY_OPENBLAS_DIR}/lib/cmake/openblas" NO_DEFAULT_PATH)
  endif()
  if(TARGET OpenBLAS::OpenBLAS)
    set(SIGREG_BLAS_CHOSEN scipy-openblas)
    set(SIGREG_SCIPY_OPENBLAS_CMAKE "${SIGREG_SCIPY_OPENBLAS_DIR}/lib/cmake/openblas")
  elseif(SIGREG_BLAS STREQUAL "scipy-openblas")
    message(FATAL_ERROR "sigreg: SIGREG_BLAS=scipy-openblas, but scipy_openblas32 was not found "
      "(pip install scipy-openblas32, or name its folder with -DSIGREG_SCIPY_OPENBLAS_DIR=...)")
  endif()
elseif(NOT SIGREG_BLAS STREQUAL "system")
  message(FATAL_ERROR "sigreg: SIGREG_BLAS must be auto, scipy-openblas or system (got '${SIGREG_BLAS}')")
endif()

add_library(sigreg_cblas INTERFACE)
if(SIGREG_BLAS_CHOSEN STREQUAL "scipy-openblas")
  target_link_libraries(sigreg_cblas INTERFACE OpenBLAS::OpenBLAS)
  target_compile_definitions(sigreg_cblas INTERFACE $<BUILD_INTERFACE:SIGREG_CBLAS_PREFIX_SCIPY=1>)
  set(_sigreg_cblas_where "${OpenBLAS_LIBRARIES}, OpenBLAS ${OpenBLAS_VERSION}")
else()
  set(SIGREG_BLAS_CHOSEN system)
  if(NOT DEFINED BLA_VENDOR)
    set(BLA_VENDOR OpenBLAS)
    find_package(BLAS)
    if(NOT BLAS_FOUND)
      unset(BLA_VENDOR)
      find_package(BLAS REQUIRED)
    endif()
  else()
    find_package(BLAS REQUIRED)
  endif()
  set(SIGREG_BLA_VENDOR "${BLA_VENDOR}")
  # The vendor's own cblas.h (Debian keeps each BLAS's header in its own folder).
  if(BLA_VENDOR STREQUAL "FLAME")
    set(_sigreg_cblas_suffixes x86_64-linux-gnu/blis-openmp x86_64-linux-gnu/blis-pthread
      x86_64-linux-gnu/blis-serial blis)
  else()
    set(_sigreg_cblas_suffixes openblas x86_64-linux-gnu x86_64-linux-gnu/openblas-pthread)
  endif()
  find_path(SIGREG_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES ${_sigreg_cblas_suffixes} REQUIRED)
  target_link_libraries(sigreg_cblas INTERFACE BLAS::BLAS)
  target_include_directories(sigreg_cblas INTERFACE $<BUILD_INTERFACE:${SIGREG_CBLAS_INCLUDE_DIR}>)
  set(_sigreg_cblas_where "${BLAS_LIBRARIES}, cblas.h in ${SIGREG_CBLAS_INCLUDE_DIR}")
endif()
message(STATUS "sigreg: CPU backend ON, CBLAS ${SIGREG_BLAS_CHOSEN} (${_sigreg_cblas_where})")
