"""Response: playbooks (YAML) whose steps are plug-ins, run as background jobs."""
