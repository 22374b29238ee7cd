"""Items: item files, images, the review workflow, messages composed for channels, read views."""
