"""The algorithms. Each file is one algorithm's loop; they share everything but the update rule."""
