// WriteAheadCrashTests (workload) -- the bank the campaign runs on: random whole operations and the model of their result.
using Pmem.Pool;
using Pmem.Tests.Pool;

namespace Pmem.Tests.Crash;

public sealed partial class WriteAheadCrashTests
{
    /// <summary>What a vault slot's account must read back as; <see cref="Next"/> names the referenced account by id (0: none).</summary>
    private sealed record Expected(long Id, long Balance, int Counter, string? Owner, decimal Amount, long Next);

    /// <summary>A pool (no log yet) whose vault holds eight accounts of 1,000, and the model of it.</summary>
    private void CreateBank(string path)
    {
        using var pool = PersistentPool.Create(path, Layout, PoolBytes);
        using var tx = pool.BeginTransaction();
        var vault = pool.Root<Vault>();
        for (var slot = 0; slot < Vault.Slots; slot++)
        {
            var account = pool.New<Account>();
            (account.Balance, account.Owner, account.Id) = (1_000, $"owner {slot + 1}", GuidOf(slot + 1));
            vault[slot] = account;
            _model[slot] = new Expected(slot + 1, 1_000, 0, $"owner {slot + 1}", 0m, 0);
        }

        tx.Commit();
    }

    private static Guid GuidOf(long id) => new((int)id, 0x57, 0x41, 0, 0, 0, 0, 0, 0, 0, (byte)(id >> 32));

    private static long IdOf(Account? account) =>
        account is null ? 0 : account.Id.ToByteArray() is var bytes ? (uint)BitConverter.ToInt32(bytes) | ((long)bytes[15] << 32) : 0;

    private long StartPosition() => _domain.Read<long>(PoolLayout.WriteAheadStartOffset);

    /// <summary>The crash point now: the model, and the log file read beside the pool (which holds it open).</summary>
    private Moment Capture(string label, long start, int floor, int newest)
    {
        using var file = File.Open(PersistentPool.WriteAheadLogPath(_pool.Path), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var bytes = new byte[file.Length];
        file.ReadExactly(bytes);
        var log = _pool.WriteAheadLogFile!;
        return new Moment(label, [.. _model], bytes, log.Tail, start, log.Life, floor, newest);
    }

    private void Set(int slot, Func<Expected, Expected> change) => _model[slot] = change(_model[slot]!);

    /// <summary>One whole operation, mirrored in the model; returns its kind.</summary>
    private string RunStep(int step)
    {
        var vault = _pool.Root<Vault>();
        var live = Enumerable.Range(0, Vault.Slots).Where(s => _model[s] is not null).ToArray();
        // Every other stretch of 25 steps runs transactions only, with nothing unlogged to sync: the log fills and
        // wraps between checkpoints, and a crash may find pages from many steps back.
        var roll = step / 25 % 2 == 1 ? (_random.Next(100) < 80 ? 0 : 99) : _random.Next(100);
        var value = _random.Next();
        var slot = live.Length == 0 ? -1 : live[_random.Next(live.Length)];
        if (live.Length == 0 || roll is >= 45 and < 62)
        {
            return Replace(step);
        }

        if (roll < 45)
        {
            var (count, syncs) = (_random.Next(1, roll == 0 ? 12 : 6), _domain.SyncCalls);
            for (var t = 1; t <= count; t++)
            {
                var (to, amount, start, inUse) = (live[_random.Next(live.Length)], _random.Next(1, 100), StartPosition(), _pool.WriteAheadLogFile!.InUse);
                var link = _random.Next(5) == 0 ? (_random.Next(3) == 0 ? -1 : to) : -2; // -2: no link, -1: unlink
                var from = t == 1 ? slot : live[_random.Next(live.Length)];
                using (var tx = _pool.BeginTransaction())
                {
                    vault[from]!.Balance -= amount;
                    vault[to]!.Balance += amount;
                    if (link > -2)
                    {
                        vault[from]!.Next = link < 0 ? null : vault[link];
                    }

                    tx.Commit();
                }

                Set(from, m => m with { Balance = m.Balance - amount, Next = link == -2 ? m.Next : link < 0 ? 0 : _model[link]!.Id });
                Set(to, m => m with { Balance = m.Balance + amount });

                // The first msync of the step is this commit's checkpoint (nothing else here syncs, and with this much
                // room the commit never waited for one before writing its record): a crash just before it sees the
                // record synced, the old header and pages as old as the last msync.
                if (_domain.SyncCalls != syncs)
                {
                    if (inUse + PageSize <= LogCapacity)
                    {
                        _inStep.Add(Capture($"step {step}, transfer {t} of {count} before its checkpoint", start, _floor, _pages.LastPoint));
                    }

                    syncs = long.MaxValue; // later commits of the step follow a sync the pages cannot show
                }
            }

            return "transfers";
        }

        var account = vault[slot]!;
        if (roll < 77)
        {
            switch (_random.Next(5))
            {
                case 0: account.Counter = value; Set(slot, m => m with { Counter = value }); return "counter set";
                case 1: account.Balance = value; Set(slot, m => m with { Balance = value }); return "balance set";
                case 2: account.Amount = value / 7m; Set(slot, m => m with { Amount = value / 7m }); return "amount set"; // 16 bytes: a log of its own
                case 3:
                    var owner = _random.Next(4) == 0 ? null : Owner();
                    account.Owner = owner;
                    Set(slot, m => m with { Owner = owner });
                    return "owner set";
                default:
                    var target = live[_random.Next(live.Length)];
                    account.Next = vault[target];
                    Set(slot, m => m with { Next = _model[target]!.Id });
                    return "next set";
            }
        }

        if (roll < 88)
        {
            using (_pool.Batch())
            {
                for (var w = _random.Next(1, 6); w > 0; w--, slot = live[_random.Next(live.Length)], value = _random.Next())
                {
                    switch (_random.Next(3))
                    {
                        case 0: vault[slot]!.Counter = value; Set(slot, m => m with { Counter = value }); break;
                        case 1: vault[slot]!.Balance = value; Set(slot, m => m with { Balance = value }); break;
                        default: vault[slot]!.Amount = value / 3m; Set(slot, m => m with { Amount = value / 3m }); break;
                    }
                }
            }

            return "batch";
        }

        return live.Length >= 4 ? ThreadedTransfers(live) : Replace(step);
    }

    /// <summary>
    /// An owner's name; one in eight longer than the content a record of this small log carries (about 1 KB), so its
    /// commit syncs the new string in place before writing a record without it.
    /// </summary>
    private string Owner() =>
        $"owner {_random.Next()} " + new string((char)('a' + _random.Next(26)), _random.Next(8) == 0 ? _random.Next(600, 2_000) : _random.Next(0, 300));

    /// <summary>
    /// An account replaced by a new one (allocated inside the transaction or, prepared, outside it), deleted to an empty
    /// slot in a transaction, or unlinked and deleted outside any; every reference to the old account follows.
    /// </summary>
    private string Replace(int step)
    {
        var vault = _pool.Root<Vault>();
        var slot = _random.Next(Vault.Slots);
        var (old, id) = (_model[slot], _model.Max(m => m?.Id ?? 0) + 1);
        var mode = old is null ? _random.Next(2) : _random.Next(4); // 0: new in the transaction; 1: prepared; 2: emptied; 3: emptied outside
        var fresh = mode >= 2 ? null : new Expected(id, _random.Next(10_000), _random.Next(), _random.Next(3) == 0 ? null : Owner(),
            _random.Next(100) / 4m, old is null ? 0 : old.Next == old.Id ? id : old.Next);
        var referrers = Enumerable.Range(0, Vault.Slots).Where(s => s != slot && old is not null && _model[s]?.Next == old.Id).ToArray();
        if (mode == 3)
        {
            foreach (var s in referrers)
            {
                vault[s]!.Next = null; // outside a transaction: a checkpoint first, then each write synced
            }

            var victim = vault[slot]!;
            vault[slot] = null;
            _pool.Delete(victim);
        }
        else
        {
            var prepared = mode == 1 ? _pool.New<Account>() : null; // a prepared block (freed ones reused), published by the transaction
            using var tx = _pool.BeginTransaction();
            var account = fresh is null ? null : prepared ?? _pool.New<Account>();
            if (account is not null)
            {
                (account.Balance, account.Counter, account.Owner, account.Amount, account.Id) = (fresh!.Balance, fresh.Counter, fresh.Owner, fresh.Amount, GuidOf(id));
                account.Next = fresh.Next == id ? account : fresh.Next == 0 ? null : vault[Array.FindIndex(_model, m => m?.Id == fresh.Next)];
            }

            foreach (var s in referrers)
            {
                vault[s]!.Next = account;
            }

            if (vault[slot] is { } victim)
            {
                _pool.Delete(victim);
            }

            vault[slot] = account;

            // The pages as the commit's drain will sync them (the new account and its owner written): a crash point
            // before the commit when nothing was allocated outside it, and the floor after the commit unless it checkpointed.
            var pre = _pages.Record(_domain.GetSpan(0, (int)PoolBytes));
            var preFloor = _domain.SyncCalls != _stepSyncs ? pre : _floor;
            if (mode != 1)
            {
                _inStep.Add(Capture($"step {step}, before the commit of its transaction", StartPosition(), preFloor, pre));
            }

            var (retired, syncs) = (_domain.Read<long>(PoolLayout.RetiredThroughOffset), _domain.SyncCalls);
            tx.Commit();
            _floorAfterStep = _domain.Read<long>(PoolLayout.RetiredThroughOffset) != retired ? null : _domain.SyncCalls != syncs ? pre : preFloor;
        }

        foreach (var s in referrers)
        {
            Set(s, m => m with { Next = fresh?.Id ?? 0 });
        }

        _model[slot] = fresh;
        return mode switch { 1 => "replaced by a prepared account", 2 => "emptied", 3 => "emptied outside a transaction", _ => old is null ? "filled" : "replaced" };
    }

    /// <summary>Transfers on 2–4 threads at once, each within its own pair of accounts (so the end state is known), joined.</summary>
    private string ThreadedTransfers(int[] live)
    {
        var shuffled = live.OrderBy(_ => _random.Next()).ToArray();
        var work = Enumerable.Range(0, Math.Min(_random.Next(2, 5), shuffled.Length / 2))
            .Select(t => (From: shuffled[2 * t], To: shuffled[2 * t + 1], Amounts: Enumerable.Range(0, _random.Next(3, 20)).Select(_ => _random.Next(1, 50)).ToArray())).ToArray();
        var failures = new Exception?[work.Length];
        var threads = work.Select((w, t) => new Thread(() =>
        {
            try
            {
                var vault = _pool.Root<Vault>();
                foreach (var amount in w.Amounts)
                {
                    using var tx = _pool.BeginTransaction();
                    vault[w.From]!.Balance -= amount;
                    vault[w.To]!.Balance += amount;
                    tx.Commit();
                }
            }
            catch (Exception e)
            {
                failures[t] = e;
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(failures, Assert.Null);
        foreach (var (from, to, amounts) in work)
        {
            Set(from, m => m with { Balance = m.Balance - amounts.Sum() });
            Set(to, m => m with { Balance = m.Balance + amounts.Sum() });
        }

        return $"transfers on {work.Length} threads";
    }

    /// <summary>The vault, one line per slot: the whole visible state, so a mismatch shows as a readable diff.</summary>
    private static string Describe(Expected?[] model) => string.Join('\n', model.Select((m, s) => m is null
        ? $"{s}: empty"
        : $"{s}: #{m.Id} balance {m.Balance} counter {m.Counter} amount {m.Amount} next #{m.Next} owner {m.Owner ?? "(none)"}"));

    private static string Describe(PersistentPool pool)
    {
        var vault = pool.Root<Vault>();
        return Describe([.. Enumerable.Range(0, Vault.Slots).Select(s => vault[s] is { } a ? new Expected(IdOf(a), a.Balance, a.Counter, a.Owner, a.Amount, IdOf(a.Next)) : null)]);
    }
}
