// Compile-time checks that the ABI has the same layout wherever it is compiled.
#include "corral_abi.h"

_Static_assert(sizeof(struct corral_rule) == 88, "corral_rule layout");
_Static_assert(sizeof(struct corral_event) == 128, "corral_event layout");
_Static_assert(sizeof(struct corral_id_ranges) == 104, "corral_id_ranges layout");
_Static_assert(sizeof(struct corral_slot_list) == 136, "corral_slot_list layout");
_Static_assert(sizeof(struct corral_cgroup_key) == 16, "corral_cgroup_key layout");
_Static_assert(sizeof(struct corral_cgroup_class) == 80, "corral_cgroup_class layout");
_Static_assert(sizeof(struct corral_pattern_node) == 56, "corral_pattern_node layout");
_Static_assert(sizeof(struct corral_pattern_name_key) == 16, "corral_pattern_name_key layout");
_Static_assert(sizeof(struct corral_pattern_name) == 264, "corral_pattern_name layout");
_Static_assert(sizeof(struct corral_pattern_glob) == 136, "corral_pattern_glob layout");
_Static_assert(sizeof(struct corral_exe_key) == 16, "corral_exe_key layout");
_Static_assert(sizeof(struct corral_xattr_key) == 16, "corral_xattr_key layout");
_Static_assert(sizeof(struct corral_xattr_subject) == 272, "corral_xattr_subject layout");
_Static_assert(sizeof(struct corral_task_state) == 40, "corral_task_state layout");
_Static_assert(sizeof(struct corral_generation) == 40, "corral_generation layout");
_Static_assert(sizeof(struct corral_protect_key) == 16, "corral_protect_key layout");
