"""Console-script entry points; the only code that configures logging."""
