"""Built-in playbook steps. One module per step; each registers itself in ``cert.response.playbooks.steps``."""
