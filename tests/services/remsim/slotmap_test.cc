// The remsim server's slotmap table (services/remsim/slotmap.h): one mapping per bank slot and per
// client slot, the NEW / UNACKNOWLEDGED / ACTIVE / DELETE_REQ / DELETING life cycle with the
// bank daemon, what a lost bank daemon does to it, and saving / loading across restarts.
#include <gtest/gtest.h>

#include "services/remsim/slotmap.h"

namespace cp::remsim {
namespace {

TEST(Slotmaps, OneMappingPerBankSlotAndPerClientSlot) {
  Slotmaps maps;
  auto a = maps.add({1, 0}, {23, 0});
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)->id(), 65536u);  // bankId * 65536 + slotNr, as osmo-remsim's REST API
  EXPECT_EQ((*a)->state, SlotmapState::fresh);
  EXPECT_EQ(maps.add({1, 0}, {24, 0}).error(), SlotmapError::bank_slot_in_use);
  EXPECT_EQ(maps.add({1, 1}, {23, 0}).error(), SlotmapError::client_slot_in_use);
  EXPECT_EQ(maps.add({1024, 0}, {1, 1}).error(), SlotmapError::out_of_range);
  ASSERT_TRUE(maps.add({1, 1}, {23, 1}));
  EXPECT_EQ(maps.by_client({23, 1})->bank, (BankSlot{1, 1}));
  EXPECT_EQ(maps.by_bank({1, 0})->client, (ClientSlot{23, 0}));
  EXPECT_EQ(maps.by_id(65537)->client, (ClientSlot{23, 1}));
  EXPECT_EQ(maps.all().size(), 2u);
}

TEST(Slotmaps, LifeCycleWithTheBank) {
  Slotmaps maps;
  const uint32_t id = (*maps.add({2, 5}, {7, 0}))->id();
  EXPECT_FALSE(maps.create_acked(id));  // not sent yet
  EXPECT_TRUE(maps.create_sent(id));
  EXPECT_EQ(maps.by_id(id)->state, SlotmapState::unacknowledged);
  EXPECT_TRUE(maps.create_acked(id));
  EXPECT_EQ(to_string(maps.by_id(id)->state), "ACTIVE");
  bool removed = true;
  ASSERT_TRUE(maps.request_delete(id, &removed));
  EXPECT_FALSE(removed);
  EXPECT_EQ(maps.by_id(id)->state, SlotmapState::delete_req);
  EXPECT_TRUE(maps.remove_sent(id));
  EXPECT_EQ(maps.by_id(id)->state, SlotmapState::deleting);
  EXPECT_TRUE(maps.remove_acked(id));
  EXPECT_EQ(maps.by_id(id), nullptr);
  EXPECT_FALSE(maps.remove_acked(id));
  EXPECT_EQ(maps.request_delete(id).error(), SlotmapError::not_found);
  // A mapping never sent to the bank goes at once.
  const uint32_t fresh = (*maps.add({2, 6}, {7, 1}))->id();
  ASSERT_TRUE(maps.request_delete(fresh, &removed));
  EXPECT_TRUE(removed);
  EXPECT_EQ(maps.by_id(fresh), nullptr);
}

TEST(Slotmaps, ALostBankDaemonSendsItsMappingsBackToNew) {
  Slotmaps maps;
  const uint32_t active = (*maps.add({3, 0}, {1, 0}))->id();
  const uint32_t sent = (*maps.add({3, 1}, {1, 1}))->id();
  const uint32_t going = (*maps.add({3, 2}, {1, 2}))->id();
  const uint32_t other = (*maps.add({4, 0}, {1, 3}))->id();
  for (uint32_t id : {active, sent, going, other}) maps.create_sent(id);
  for (uint32_t id : {active, going, other}) maps.create_acked(id);
  ASSERT_TRUE(maps.request_delete(going));
  ASSERT_TRUE(maps.remove_sent(going));
  maps.bank_lost(3);
  EXPECT_EQ(maps.by_id(active)->state, SlotmapState::fresh);
  EXPECT_EQ(maps.by_id(sent)->state, SlotmapState::fresh);
  // The bank may still hold it: the removal is sent again when it is back.
  EXPECT_EQ(maps.by_id(going)->state, SlotmapState::delete_req);
  EXPECT_EQ(maps.by_id(other)->state, SlotmapState::active);
  // Deleting a mapping the bank may hold waits for the bank; one never sent goes at once.
  bool removed = true;
  ASSERT_TRUE(maps.request_delete(active, &removed));
  EXPECT_FALSE(removed);
  EXPECT_EQ(maps.by_id(active)->state, SlotmapState::delete_req);
  const uint32_t unsent = (*maps.add({3, 5}, {1, 5}))->id();
  ASSERT_TRUE(maps.request_delete(unsent, &removed));
  EXPECT_TRUE(removed);
  EXPECT_EQ(maps.by_id(unsent), nullptr);
}

TEST(Slotmaps, SavedAndLoadedAcrossARestart) {
  Slotmaps maps;
  maps.add({1, 0}, {23, 0});
  maps.add({1, 1}, {23, 1});
  const uint32_t going = (*maps.add({1, 2}, {23, 2}))->id();
  maps.create_sent(going);
  maps.request_delete(going);
  auto loaded = Slotmaps::load(maps.save(), "slotmaps");
  ASSERT_TRUE(loaded) << loaded.error();
  ASSERT_EQ(loaded->all().size(), 3u);
  EXPECT_EQ(loaded->by_id(65537)->client, (ClientSlot{23, 1}));
  EXPECT_EQ(loaded->by_id(65537)->state, SlotmapState::fresh);
  EXPECT_TRUE(loaded->by_id(65537)->sent);  // the bank may hold it from before the restart
  // The one being deleted stays until the bank acknowledges the removal.
  EXPECT_EQ(loaded->by_id(going)->state, SlotmapState::delete_req);
  auto bad =
      Slotmaps::load("1 0 23 0\n1 0 24 0\n1 2 x 0\n5 5 5\n6 6 6 6 deleted\n", "slotmaps.txt");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("slotmaps.txt:2: the bank slot is already mapped"), std::string::npos);
  EXPECT_NE(bad.error().find("slotmaps.txt:3: expected bankId"), std::string::npos);
  EXPECT_NE(bad.error().find("slotmaps.txt:4: expected bankId"), std::string::npos);
  EXPECT_NE(bad.error().find("slotmaps.txt:5: expected bankId"), std::string::npos);
}

}  // namespace
}  // namespace cp::remsim
