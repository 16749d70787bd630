"""Response playbooks: the YAML files in this folder, and the step plug-ins of ``playbooks.steps``."""
