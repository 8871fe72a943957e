// AllocationRecord -- a block a transaction allocated: made durable at commit, released at rollback.
using Pmem.Heap;

namespace Pmem.Transactions;

/// <summary>A block a transaction allocated, the type index it will carry and how many of its bytes hold content.</summary>
internal readonly record struct AllocationRecord(BlockReservation Block, uint TypeIndex, int ContentLength);
