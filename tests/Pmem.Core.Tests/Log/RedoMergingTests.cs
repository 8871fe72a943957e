// RedoMergingTests -- bitwise entries on one word merge in the builder, and deferred flushes on the same lines coalesce.
using Pmem.Log;

namespace Pmem.Tests.Log;

/// <summary>
/// A transaction that allocates or frees many blocks of one run logs one Or or And per bitmap word, not per block, and
/// an apply's neighbouring targets are flushed once per line, not once per entry; neither changes what is applied or
/// which lines are flushed.
/// </summary>
public sealed class RedoMergingTests
{
    [Fact]
    public void Consecutive_ors_or_ands_on_one_word_become_one_entry()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.Or(64, 0b0001);
        redo.Or(64, 0b0100);
        redo.Or(64, 0b1000);
        redo.And(128, ~0b01UL);
        redo.And(128, ~0b10UL);

        Assert.Equal([(RedoOperation.Or, 64L, 0b1101UL), (RedoOperation.And, 128L, ~0b11UL)], Entries(redo));
        Assert.Equal(32, redo.Length);
    }

    [Fact]
    public void Entries_on_other_words_of_other_operations_or_with_an_entry_between_stay_apart()
    {
        var redo = new RedoBuilder(new ThreadCommits());
        redo.Or(64, 1);
        redo.And(64, ~2UL);   // another operation
        redo.Or(72, 4);       // another word
        redo.SetWord(200, 5);
        redo.Or(72, 8);       // a Set between
        redo.RequireDurable(512, new byte[16]);
        redo.Or(72, 16);      // a Verify between

        Assert.Equal(
            [(RedoOperation.Or, 64L, 1UL), (RedoOperation.And, 64L, ~2UL), (RedoOperation.Or, 72L, 4UL), (RedoOperation.Set, 200L, 0UL),
             (RedoOperation.Or, 72L, 8UL), (RedoOperation.Verify, 512L, 16UL), (RedoOperation.Or, 72L, 16UL)],
            Entries(redo));

        redo.Clear();
        redo.Or(72, 32); // after a clear, nothing to merge into
        Assert.Equal([(RedoOperation.Or, 72L, 32UL)], Entries(redo));
    }

    [Fact]
    public void Deferred_flushes_in_or_right_after_the_last_ranges_lines_coalesce()
    {
        var mine = new ThreadCommits();
        mine.Defer(null!, 8, 8);    // line 0
        mine.Defer(null!, 16, 8);   // line 0 again
        mine.Defer(null!, 64, 8);   // line 1, right after
        mine.Defer(null!, 300, 8);  // line 4: lines 2 and 3 are not to be flushed
        mine.Defer(null!, 260, 4);  // line 4, before the last range's start
        mine.Defer(null!, 0, 8);    // line 0: before the last range's lines

        Assert.Equal([(8L, 64L), (260L, 48L), (0L, 8L)], mine.Deferred.Take(mine.DeferredCount).Select(range => (range.Start, range.Length)));
    }

    private static List<(RedoOperation Operation, long Target, ulong Operand)> Entries(RedoBuilder redo)
    {
        var entries = new List<(RedoOperation, long, ulong)>();
        var reader = new RedoReader(redo.Entries);
        while (reader.MoveNext(out var error))
        {
            Assert.Null(error);
            entries.Add((reader.Operation, reader.Target, reader.Operation == RedoOperation.Set ? 0 : reader.Operation == RedoOperation.Verify ? (ulong)reader.Length : reader.Operand));
        }

        return entries;
    }
}
