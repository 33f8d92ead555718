"""ComputeRouter."""
