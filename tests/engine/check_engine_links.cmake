# Proves that the engine stands alone: neither the engine library
# (recblocks::engine) nor a program linked against it alone references
# libcurl, libarchive or FAISS.
#   cmake -DENGINE_LIB=... -DDATASETS_LIB=... -DANN_LIB=... -DEXE=... -DNM=... -DREADELF=...
#         -P check_engine_links.cmake
foreach(var ENGINE_LIB DATASETS_LIB ANN_LIB EXE NM READELF)
  if(NOT ${var})
    message(FATAL_ERROR "check_engine_links: ${var} not given")
  endif()
endforeach()

# Symbols of the three libraries: curl_easy_*, archive_read_*, faiss::.
set(_forbidden "(curl_[a-z_]+|archive_[a-z_]+|faiss)")

# The engine archive: no undefined symbol that one of them would provide.
execute_process(COMMAND ${NM} -C -u ${ENGINE_LIB} OUTPUT_VARIABLE _undefined RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "check_engine_links: ${NM} -u ${ENGINE_LIB} failed (${_rc})")
endif()
string(REGEX MATCHALL "[ \t]U ${_forbidden}[^\n]*" _hits "${_undefined}")
if(_hits)
  message(FATAL_ERROR "check_engine_links: ${ENGINE_LIB} needs: ${_hits}")
endif()
# The same scan finds them where they belong, so a pass above is not the
# scan failing to see anything.
foreach(_pair "DATASETS_LIB;curl_easy_" "DATASETS_LIB;archive_read_" "ANN_LIB;faiss::")
  list(GET _pair 0 _lib_var)
  list(GET _pair 1 _prefix)
  execute_process(COMMAND ${NM} -C -u ${${_lib_var}} OUTPUT_VARIABLE _other)
  if(NOT _other MATCHES "[ \t]U ${_prefix}")
    message(FATAL_ERROR "check_engine_links: no ${_prefix} symbol in ${${_lib_var}}: the scan is broken")
  endif()
endforeach()

# The engine-only program: no such library among its dynamic dependencies,
# and no FAISS code (a static library) linked in.
execute_process(COMMAND ${READELF} -d ${EXE} OUTPUT_VARIABLE _dynamic RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "check_engine_links: ${READELF} -d ${EXE} failed (${_rc})")
endif()
if(NOT _dynamic MATCHES "NEEDED")
  message(FATAL_ERROR "check_engine_links: ${EXE} has no NEEDED entries: is it dynamic?")
endif()
string(REGEX MATCHALL "Shared library: \\[lib(curl|archive|faiss)[^]]*\\]" _needed "${_dynamic}")
if(_needed)
  message(FATAL_ERROR "check_engine_links: ${EXE} needs ${_needed}")
endif()
execute_process(COMMAND ${NM} -C ${EXE} OUTPUT_VARIABLE _symbols RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "check_engine_links: ${NM} ${EXE} failed (${_rc})")
endif()
string(REGEX MATCHALL " ${_forbidden}[^\n]*" _linked "${_symbols}")
if(_linked)
  list(SUBLIST _linked 0 5 _first)
  message(FATAL_ERROR "check_engine_links: ${EXE} holds: ${_first}")
endif()
message(STATUS "check_engine_links: engine and ${EXE} reference no curl, libarchive or FAISS")
