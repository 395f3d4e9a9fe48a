# cmake -P script behind the package_consumer test (see CMakeLists.txt):
#   1. cmake --install RECBLOCKS_BINARY_DIR --prefix WORK_DIR/prefix
#   2. configure + build CONSUMER_SOURCE_DIR against that prefix only
#   3. run the consumer and check what it prints
cmake_minimum_required(VERSION 3.25)

foreach(var RECBLOCKS_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER
            BUILD_TYPE EXPECTED_VERSION)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# step(<description> <command>...): runs a command, fails the test on error.
function(step what)
  message(STATUS "package_consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "package_consumer: ${what} failed (${result}):\n${out}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

step("install into ${prefix}"
  ${CMAKE_COMMAND} --install ${RECBLOCKS_BINARY_DIR} --prefix ${prefix} --config ${BUILD_TYPE})

# Only the fresh prefix is searched: no package registry, no system recblocks.
step("configure the consumer"
  ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
set(configure_output "${step_output}")
if(NOT configure_output MATCHES "recblocks_DIR=${prefix}/")
  message(FATAL_ERROR "package_consumer: recblocks was not found in ${prefix}:\n${configure_output}")
endif()

step("build the consumer" ${CMAKE_COMMAND} --build ${build} --config ${BUILD_TYPE})

# consumer links recblocks::recblocks, engine_consumer recblocks::engine only.
foreach(exe consumer engine_consumer)
  find_program(${exe}_exe ${exe} PATHS ${build} ${build}/${BUILD_TYPE} NO_DEFAULT_PATH REQUIRED)
  step("run ${${exe}_exe}" ${${exe}_exe})
  message(STATUS "package_consumer: ${exe} printed:\n${step_output}")

  # What consumer/main.cpp prints when the installed library works.
  foreach(expected
      "recblocks ${EXPECTED_VERSION}"
      "shape=\\[2, 3\\], dtype=float32"
      "sum of a: 21"
      "a @ b: 22 28 49 64")
    if(NOT step_output MATCHES "${expected}")
      message(FATAL_ERROR "package_consumer: expected the output of ${exe} to match '${expected}'")
    endif()
  endforeach()
endforeach()
# The Parquet consumer, when the installed package has recblocks::parquet.
find_program(parquet_consumer_exe parquet_consumer PATHS ${build} ${build}/${BUILD_TYPE}
             NO_DEFAULT_PATH)
if(configure_output MATCHES "RECBLOCKS_HAVE_PARQUET=ON")
  if(NOT parquet_consumer_exe)
    message(FATAL_ERROR "package_consumer: the package has Parquet, but parquet_consumer was not built")
  endif()
  step("run ${parquet_consumer_exe}" ${parquet_consumer_exe})
  message(STATUS "package_consumer: parquet_consumer printed:\n${step_output}")
  if(NOT step_output MATCHES "parquet: Arrow [0-9.]+, read back 3 rows, last id 9")
    message(FATAL_ERROR "package_consumer: parquet_consumer printed:\n${step_output}")
  endif()
  # The installed CLI finds libarrow through its RPATH, without LD_LIBRARY_PATH.
  if(EXISTS ${prefix}/bin/recblocks)
    step("run the installed recblocks info"
      ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${prefix}/bin/recblocks info)
    if(NOT step_output MATCHES "parquet: +Arrow [0-9.]+")
      message(FATAL_ERROR "package_consumer: the installed recblocks info printed:\n${step_output}")
    endif()
  endif()
endif()
message(STATUS "package_consumer: passed")
