"""Services: storage, publishing, keys, federation and scheduling. They use the core, never HTTP."""
