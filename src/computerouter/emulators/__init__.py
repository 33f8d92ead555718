"""HTTP emulators of vendor APIs (tests, demos, simulation); beside the layers, never imported
by them. Each may back its sandboxes with the ``local`` provider so runtimes really run."""
