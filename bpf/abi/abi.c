// Compile-time checks that the ABI has the same layout wherever it is compiled.
#include "corral_abi.h"

_Static_assert(sizeof(struct corral_rule) == 88, "corral_rule layout");
_Static_assert(sizeof(struct corral_event) == 120, "corral_event layout");
_Static_assert(sizeof(struct corral_id_ranges) == 104, "corral_id_ranges layout");
_Static_assert(sizeof(struct corral_slot_list) == 136, "corral_slot_list layout");
_Static_assert(sizeof(struct corral_anchor) == 40, "corral_anchor layout");
_Static_assert(sizeof(struct corral_anchor_key) == 16, "corral_anchor_key layout");
_Static_assert(sizeof(struct corral_exe_key) == 16, "corral_exe_key layout");
_Static_assert(sizeof(struct corral_task_state) == 16, "corral_task_state layout");
_Static_assert(sizeof(struct corral_generation) == 32, "corral_generation layout");
_Static_assert(sizeof(struct corral_protect_key) == 16, "corral_protect_key layout");
