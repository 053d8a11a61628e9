"""Parsing MARTS-DB exports, product chemistry, ensembles and sequence inputs."""
