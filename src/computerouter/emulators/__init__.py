"""HTTP emulators of vendor APIs, beside the layers: for tests, demos and simulation."""
