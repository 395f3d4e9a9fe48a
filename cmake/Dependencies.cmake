# Third-party dependencies, all from Debian packages (scripts/setup.sh installs them).
# Included by the build and by the installed recblocksConfig.cmake.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(fmt REQUIRED)

# BLAS: link the variant chosen by measurement (bench/RESULTS.md) directly,
# not through Debian's libblas.so.3 alternative, so the choice is explicit.
if(NOT RECBLOCKS_BLAS)
  set(RECBLOCKS_BLAS "openblas-openmp")
endif()
if(NOT TARGET recblocks::blas)
  if(RECBLOCKS_BLAS MATCHES "^openblas-(openmp|pthread|serial)$")
    # Debian ships one cblas.h for all OpenBLAS variants, under openblas-pthread/.
    find_path(RECBLOCKS_CBLAS_INCLUDE_DIR cblas.h
      PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-pthread NO_DEFAULT_PATH REQUIRED)
    find_library(RECBLOCKS_BLAS_LIBRARY NAMES openblas libopenblas.so.0
      PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/${RECBLOCKS_BLAS} NO_DEFAULT_PATH REQUIRED)
  else()
    message(FATAL_ERROR "RECBLOCKS_BLAS=${RECBLOCKS_BLAS}: expected openblas-openmp, openblas-pthread or openblas-serial")
  endif()
  add_library(recblocks::blas INTERFACE IMPORTED)
  set_target_properties(recblocks::blas PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${RECBLOCKS_CBLAS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${RECBLOCKS_BLAS_LIBRARY}")
endif()
