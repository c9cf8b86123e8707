/*
 * Counters one thread writes and others read (a plane's thread counts, Node's thread reads
 * for status and metrics): relaxed atomics, no lock. One writer a counter, so the add is a
 * load and a store, not a read-modify-write.
 */
#ifndef WSNIC_COUNTER_H
#define WSNIC_COUNTER_H

#define COUNT(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

#endif
