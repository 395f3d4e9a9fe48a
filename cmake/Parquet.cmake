# Parquet support: recblocks::parquet (src/data/parquet*.cpp) reads and
# writes Parquet datasets with Apache Arrow's C++ library. Debian 12 has no
# Arrow package, so the library comes from the pyarrow wheel that
# scripts/setup.sh installs into the project's .venv (headers under
# pyarrow/include, libarrow.so.<N> and libparquet.so.<N> beside them). The
# rest of recblocks never needs it; libarrow and libparquet do not link
# libpython, so nothing needs Python at run time.
#
#   -DRECBLOCKS_PARQUET=AUTO   (default) on when a usable pyarrow is found
#   -DRECBLOCKS_PARQUET=ON     required: configuring fails with the reason
#   -DRECBLOCKS_PARQUET=OFF    never
#   -DRECBLOCKS_PYARROW_DIR=D  the pyarrow package folder to use (default: asked from
#                              Python_EXECUTABLE, else <source>/.venv/bin/python3)
#
# Sets RECBLOCKS_HAVE_PARQUET (ON/OFF), RECBLOCKS_ARROW_VERSION and, when on,
# the imported targets of cmake/ArrowTargets.cmake.
set(RECBLOCKS_PARQUET AUTO CACHE STRING
    "Parquet datasets through pyarrow's Arrow C++ library: AUTO (when found), ON (required) or OFF")
set_property(CACHE RECBLOCKS_PARQUET PROPERTY STRINGS AUTO ON OFF)
set(RECBLOCKS_PYARROW_DIR "" CACHE PATH
    "The pyarrow package folder with include/ and libarrow.so.<N> (empty: asked from Python)")

set(RECBLOCKS_HAVE_PARQUET OFF)
set(RECBLOCKS_ARROW_VERSION "")
string(TOUPPER "${RECBLOCKS_PARQUET}" _rb_parquet_mode)
if(NOT _rb_parquet_mode MATCHES "^(AUTO|ON|OFF|TRUE|FALSE|YES|NO|1|0)$")
  message(FATAL_ERROR "RECBLOCKS_PARQUET=${RECBLOCKS_PARQUET}: expected AUTO, ON or OFF")
endif()

# _rb_parquet_unavailable(<reason>): fails when Parquet is required, else
# reports why the build goes on without it.
macro(_rb_parquet_unavailable reason)
  if(_rb_parquet_mode STREQUAL "AUTO")
    message(STATUS "Parquet support: off (${reason}); scripts/setup.sh installs pyarrow into .venv")
  else()
    message(FATAL_ERROR "RECBLOCKS_PARQUET=${RECBLOCKS_PARQUET}: ${reason}. scripts/setup.sh "
                        "installs pyarrow into .venv; or give -DRECBLOCKS_PYARROW_DIR=<site-packages>/pyarrow")
  endif()
endmacro()

function(_rb_find_pyarrow)
  set(_dir "${RECBLOCKS_PYARROW_DIR}")
  if(NOT _dir)
    if(Python_EXECUTABLE)
      set(_python "${Python_EXECUTABLE}")
    elseif(EXISTS "${PROJECT_SOURCE_DIR}/.venv/bin/python3")
      set(_python "${PROJECT_SOURCE_DIR}/.venv/bin/python3")
    else()
      set(_rb_reason "no Python_EXECUTABLE and no ${PROJECT_SOURCE_DIR}/.venv" PARENT_SCOPE)
      return()
    endif()
    # The package folder only: importing pyarrow loads its libraries, which
    # is all the check needs (and what a user's pyarrow does anyway).
    execute_process(
      COMMAND "${_python}" -c "import os, pyarrow; print(os.path.dirname(pyarrow.__file__))"
      OUTPUT_VARIABLE _dir ERROR_VARIABLE _err RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE
      TIMEOUT 60)
    if(NOT _rc EQUAL 0)
      string(REGEX REPLACE ".*\n([^\n]+)\n?$" "\\1" _err "${_err}")
      set(_rb_reason "${_python} cannot import pyarrow: ${_err}" PARENT_SCOPE)
      return()
    endif()
  endif()
  if(NOT EXISTS "${_dir}/include/arrow/api.h" OR NOT EXISTS "${_dir}/include/parquet/api/reader.h")
    set(_rb_reason "${_dir} has no include/arrow and include/parquet headers" PARENT_SCOPE)
    return()
  endif()
  file(STRINGS "${_dir}/include/arrow/util/config.h" _version_line
       REGEX "^#define ARROW_VERSION_STRING \"[0-9.]+\"")
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _version "${_version_line}")
  if(NOT _version)
    set(_rb_reason "no ARROW_VERSION_STRING in ${_dir}/include/arrow/util/config.h" PARENT_SCOPE)
    return()
  endif()
  # The wheel's sonames: libarrow.so.<major * 100 + minor> (18.1.0 -> 1801).
  string(REPLACE "." ";" _parts "${_version}")
  list(GET _parts 0 _major)
  list(GET _parts 1 _minor)
  math(EXPR _so "${_major} * 100 + ${_minor}")
  foreach(_lib arrow parquet)
    set(_file "")
    foreach(_name "lib${_lib}.so.${_so}" "lib${_lib}.so")
      if(EXISTS "${_dir}/${_name}")
        set(_file "${_dir}/${_name}")
        break()
      endif()
    endforeach()
    if(NOT _file)
      set(_rb_reason "no lib${_lib}.so.${_so} in ${_dir}" PARENT_SCOPE)
      return()
    endif()
    set(_lib_${_lib} "${_file}")
  endforeach()
  set(_rb_found_dir "${_dir}" PARENT_SCOPE)
  set(_rb_found_version "${_version}" PARENT_SCOPE)
  set(_rb_found_arrow "${_lib_arrow}" PARENT_SCOPE)
  set(_rb_found_parquet "${_lib_parquet}" PARENT_SCOPE)
endfunction()

if(NOT _rb_parquet_mode MATCHES "^(OFF|FALSE|NO|0)$")
  if(_rb_parquet_mode MATCHES "^(TRUE|YES|1)$")
    set(_rb_parquet_mode ON)
  endif()
  set(_rb_reason "")
  _rb_find_pyarrow()
  if(_rb_reason)
    _rb_parquet_unavailable("${_rb_reason}")
  else()
    # Compile and link a program that writes a table, once per pyarrow
    # (cached): the headers must build with this compiler and the libraries
    # link with its C++ runtime.
    string(MD5 _rb_probe_key "${_rb_found_dir};${CMAKE_CXX_COMPILER};${_rb_found_version}")
    if(NOT RECBLOCKS_PARQUET_PROBE_KEY STREQUAL _rb_probe_key)
      set(_rb_probe ${CMAKE_BINARY_DIR}/CMakeFiles/recblocks_parquet_probe.cpp)
      file(WRITE ${_rb_probe} [=[
#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/writer.h>
int main() {
  auto schema = arrow::schema({arrow::field("x", arrow::int32())});
  arrow::Int32Builder b;
  if (!b.Append(1).ok()) return 1;
  auto table = arrow::Table::Make(schema, {b.Finish().ValueOrDie()});
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  return parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 1).ok() ? 0 : 1;
}
]=])
      message(STATUS "Parquet support: checking Arrow ${_rb_found_version} from ${_rb_found_dir}")
      try_compile(_rb_probe_ok ${CMAKE_BINARY_DIR}/CMakeFiles/recblocks_parquet_probe
        SOURCES ${_rb_probe}
        CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${_rb_found_dir}/include"
        LINK_LIBRARIES ${_rb_found_parquet} ${_rb_found_arrow}
        CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
        OUTPUT_VARIABLE _rb_probe_output)
      set(RECBLOCKS_PARQUET_PROBE_OK ${_rb_probe_ok} CACHE INTERNAL "")
      set(RECBLOCKS_PARQUET_PROBE_KEY ${_rb_probe_key} CACHE INTERNAL "")
      if(NOT _rb_probe_ok)
        string(REGEX MATCH "[^\n]*error[^\n]*" _rb_probe_error "${_rb_probe_output}")
        set(RECBLOCKS_PARQUET_PROBE_ERROR "${_rb_probe_error}" CACHE INTERNAL "")
      endif()
    endif()
    if(NOT RECBLOCKS_PARQUET_PROBE_OK)
      _rb_parquet_unavailable("a program using Arrow ${_rb_found_version} from ${_rb_found_dir} "
                              "does not build: ${RECBLOCKS_PARQUET_PROBE_ERROR}")
    else()
      set(RECBLOCKS_HAVE_PARQUET ON)
      set(RECBLOCKS_ARROW_VERSION ${_rb_found_version})
      set(RECBLOCKS_ARROW_INCLUDE_DIR "${_rb_found_dir}/include")
      set(RECBLOCKS_ARROW_LIBRARY "${_rb_found_arrow}")
      set(RECBLOCKS_PARQUET_LIBRARY "${_rb_found_parquet}")
      include(${CMAKE_CURRENT_LIST_DIR}/ArrowTargets.cmake)
      message(STATUS "Parquet support: on (Arrow ${_rb_found_version} from ${_rb_found_dir})")
    endif()
  endif()
else()
  message(STATUS "Parquet support: off (RECBLOCKS_PARQUET=${RECBLOCKS_PARQUET})")
endif()
# For scripts (scripts/fuzz.sh) that read the cache: whether this build has it.
set(RECBLOCKS_PARQUET_BUILT ${RECBLOCKS_HAVE_PARQUET} CACHE INTERNAL "recblocks::parquet is built")
