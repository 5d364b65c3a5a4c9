# The message store's recovery scanner and record decoder on a simulated disk (storage/).
cp_fuzz(store_recovery_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/store_recovery_fuzz.cc
        DEPS cp_storage_testing CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/store_recovery_fuzz)
