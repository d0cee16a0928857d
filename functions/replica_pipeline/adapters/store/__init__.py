"""The replicas table: ``repository.ReplicaStore`` and the layers it is built from."""
