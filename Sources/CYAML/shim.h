// libyaml (Debian libyaml-dev): the YAML 1.1 parser under Corral's policy and scenario readers.
// Only Sources/CorralYAML/YAMLComposer.swift may use this module.
#ifndef CORRAL_CYAML_SHIM_H
#define CORRAL_CYAML_SHIM_H
#include <yaml.h>
#endif
