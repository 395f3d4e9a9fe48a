# Third-party dependencies, all from Debian packages (scripts/setup.sh installs them).
# Included by the build and by the installed recblocksConfig.cmake.
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(Threads REQUIRED)
# Downloading and unpacking datasets (MovieLens zips): only the library's
# own sources use them, but a static library passes them on to its users.
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
# Approximate top-k for large catalogues (retrieval/ann.h): Debian's
# libfaiss-dev, a static library over the system BLAS/LAPACK.
find_package(faiss REQUIRED)

# BLAS: link the library chosen by measurement (bench/RESULTS.md) directly,
# not through Debian's libblas.so.3 alternative, so the choice is explicit.
# recblocks calls it single-threaded and splits the work over its own
# OpenMP pool; both choices are OpenMP builds (one libgomp, one pool).
if(NOT RECBLOCKS_BLAS)
  set(RECBLOCKS_BLAS "blis")
endif()
if(NOT TARGET recblocks::blas)
  # One cache entry per library, so switching RECBLOCKS_BLAS in an existing
  # build directory finds the new one.
  string(MAKE_C_IDENTIFIER "${RECBLOCKS_BLAS}" _rb_blas_id)
  string(TOUPPER "${_rb_blas_id}" _rb_blas_id)
  set(_rb_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  set(_rb_lib /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE})
  if(RECBLOCKS_BLAS STREQUAL "blis")
    find_path(RECBLOCKS_${_rb_blas_id}_INCLUDE_DIR blis.h PATHS ${_rb_inc}/blis-openmp NO_DEFAULT_PATH REQUIRED)
    find_library(RECBLOCKS_${_rb_blas_id}_LIBRARY NAMES blis libblis.so.4 PATHS ${_rb_lib}/blis-openmp
      NO_DEFAULT_PATH REQUIRED)
  elseif(RECBLOCKS_BLAS STREQUAL "openblas-openmp")
    # Debian ships one cblas.h for all OpenBLAS variants, under openblas-pthread/.
    find_path(RECBLOCKS_${_rb_blas_id}_INCLUDE_DIR cblas.h PATHS ${_rb_inc}/openblas-pthread NO_DEFAULT_PATH
      REQUIRED)
    find_library(RECBLOCKS_${_rb_blas_id}_LIBRARY NAMES openblas libopenblas.so.0 PATHS ${_rb_lib}/openblas-openmp
      NO_DEFAULT_PATH REQUIRED)
  else()
    message(FATAL_ERROR "RECBLOCKS_BLAS=${RECBLOCKS_BLAS}: expected blis or openblas-openmp")
  endif()
  add_library(recblocks::blas INTERFACE IMPORTED)
  set_target_properties(recblocks::blas PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${RECBLOCKS_${_rb_blas_id}_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${RECBLOCKS_${_rb_blas_id}_LIBRARY}")
endif()
