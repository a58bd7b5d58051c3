"""What the benchmark (bench/) and the fault runs (faults/) share; not part of the service."""
