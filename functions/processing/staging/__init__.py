"""The staging area of one object version: manifests, pages of chunks and vectors, model-call
checkpoints and the parts of long objects."""
