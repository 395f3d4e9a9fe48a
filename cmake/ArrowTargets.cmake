# Imported targets for Apache Arrow's C++ library and its Parquet reader,
# from the files the pyarrow wheel ships (Debian 12 packages neither):
#
#   recblocks::arrow_cpp    libarrow.so.<N>, include/arrow
#   recblocks::parquet_cpp  libparquet.so.<N>, include/parquet (needs arrow_cpp)
#
# Needs RECBLOCKS_ARROW_INCLUDE_DIR, RECBLOCKS_ARROW_LIBRARY and
# RECBLOCKS_PARQUET_LIBRARY: the build sets them in cmake/Parquet.cmake,
# the installed recblocksConfig.cmake to what the build used. The libraries
# are linked by their full versioned file names (the wheel has no libarrow.so
# link, and pyarrow.create_library_symlinks() would write into the Python
# environment); the linker records their sonames, and CMake puts their
# folder in the build RPATH, so programs run without the environment active.
if(NOT TARGET recblocks::arrow_cpp)
  foreach(_rb_var RECBLOCKS_ARROW_INCLUDE_DIR RECBLOCKS_ARROW_LIBRARY RECBLOCKS_PARQUET_LIBRARY)
    if(NOT EXISTS "${${_rb_var}}")
      message(FATAL_ERROR "recblocks Parquet support: ${_rb_var} '${${_rb_var}}' does not exist "
                          "(the pyarrow it was built with was removed or moved?)")
    endif()
  endforeach()
  add_library(recblocks::arrow_cpp SHARED IMPORTED)
  set_target_properties(recblocks::arrow_cpp PROPERTIES
    IMPORTED_LOCATION "${RECBLOCKS_ARROW_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${RECBLOCKS_ARROW_INCLUDE_DIR}")
  add_library(recblocks::parquet_cpp SHARED IMPORTED)
  set_target_properties(recblocks::parquet_cpp PROPERTIES
    IMPORTED_LOCATION "${RECBLOCKS_PARQUET_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${RECBLOCKS_ARROW_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES recblocks::arrow_cpp)
endif()
