# Run by ctest (install_and_find_package): install qforge from BUILD_DIR into WORK_DIR/prefix, then configure
# and build examples/standalone against that prefix, the pure header-only way (no qforge::ops). It is built at -O0:
# this test checks packaging, not speed, and an optimised header-only build of a whole app takes minutes here.
# Any failing step fails the test.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/standalone -B ${WORK_DIR}/app
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Debug
                        "-DCMAKE_CXX_FLAGS_DEBUG=-O0" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the example against the installed package failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/app RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the example against the installed package failed (${rc})")
endif()
if(NOT EXISTS ${WORK_DIR}/app/classify)
  message(FATAL_ERROR "no classify binary was produced")
endif()
execute_process(COMMAND ${WORK_DIR}/app/classify RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 2 OR NOT err MATCHES "usage")
  message(FATAL_ERROR "the installed-package example does not run (exit ${rc}): ${err}")
endif()
