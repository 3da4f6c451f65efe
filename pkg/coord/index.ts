/**
 * pkg/coord — sessions, elections and mutexes over any {@link Store} (embedded or etcd), modelled on etcd's Go
 * `concurrency` package: a session is a lease kept alive; an election or a mutex is a set of keys on session
 * leases under one prefix, served in create-revision order. A process that dies loses what it held when its lease
 * expires, within the TTL; `session.done` tells a live process the moment it can no longer count on its lease.
 *
 * @example
 * const session = await createSession(store, { ttlSeconds: 2 });
 * const election = createElection(session, "/vaquero/leader/");
 * await election.campaign("server-a");
 * await Promise.race([runLeaderWork(), session.done]); // stop when the lease is lost
 * await election.resign();
 * await session.close();
 */
export { createElection, type Election, type Leader } from "./_election.ts";
export { COORD_CODES, type CoordClock, type CoordCode, CoordError, isCoordError, systemClock } from "./_errors.ts";
export { createMutex, type Mutex } from "./_mutex.ts";
export { createSession, type Session, type SessionEnd, type SessionOptions } from "./_session.ts";
