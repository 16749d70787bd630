"""The sharing targets shipped with Vigie, one module each, registered in
``cert.sharing.target.targets`` (this package is in the ``plugins`` setting)."""
