"""High availability: the Patroni + etcd + HAProxy stack, for compose and as local processes."""
