"""The four stages: collect -> analyze -> recommend -> grade."""
