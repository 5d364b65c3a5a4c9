# The remote-SIM files (slotmaps, reader CSV, card contents) and APDUs to the simulated card.
cp_fuzz(remsim_files_fuzz SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/remsim_files_fuzz.cc
        DEPS cp_remsim cp_simcard CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/remsim_files_fuzz)
