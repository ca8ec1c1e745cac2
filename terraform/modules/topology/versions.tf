terraform {
  # Cross-variable validation conditions need 1.9; mocked tests (the other modules) need 1.7.
  required_version = ">= 1.9"
}
