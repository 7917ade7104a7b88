"""What never leaves the machine: the secret scanner, push protection and purge."""
