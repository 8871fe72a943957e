using Pmem.Memory;

namespace Pmem.Tests.Memory;

/// <summary>The write-ahead log file: records read back in order, never past a torn, stale or missing one; group syncs.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class WriteAheadFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pmem-wal-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string LogPath => Path.Combine(_directory, "pool.wal");

    private static byte[] Payload(int index, int length) => Enumerable.Range(0, length).Select(i => (byte)(index * 31 + i)).ToArray();

    private static List<(long Lsn, byte[] Payload)> ReadAll(WriteAheadFile log, ulong life, long start, out long end)
    {
        var records = new List<(long, byte[])>();
        end = log.Read(life, start, (lsn, payload) =>
        {
            records.Add((lsn, payload.ToArray()));
            return true;
        });
        return records;
    }

    private static long Append(WriteAheadFile log, byte[] payload)
    {
        var lsn = log.TryReserve(payload.Length);
        Assert.True(lsn >= 0, "no room");
        log.Write(lsn, payload);
        log.WaitDurable(lsn + WriteAheadFile.FrameSize + payload.Length);
        return lsn;
    }

    [Fact]
    public void Records_read_back_in_order_and_reading_stops_after_the_last()
    {
        using var log = WriteAheadFile.Open(LogPath, 64 * 1024, writable: true);
        log.StartLife(7, 0);
        var written = Enumerable.Range(0, 20).Select(i => (Lsn: Append(log, Payload(i, 10 + i * 13)), Payload: Payload(i, 10 + i * 13))).ToList();

        using var reader = WriteAheadFile.Open(LogPath, 0, writable: false);
        var read = ReadAll(reader, 7, 0, out var end);

        Assert.Equal(written.Select(r => r.Lsn), read.Select(r => r.Lsn));
        Assert.All(written.Zip(read), pair => Assert.Equal(pair.First.Payload, pair.Second.Payload));
        Assert.Equal(log.Tail, end);
        Assert.Empty(ReadAll(reader, 8, 0, out _)); // another life's id: nothing
    }

    [Fact]
    public void Threads_appending_at_once_all_become_durable_and_read_back_whole()
    {
        const int Threads = 8;
        const int PerThread = 100;
        using var log = WriteAheadFile.Open(LogPath, 1024 * 1024, writable: true);
        log.StartLife(1, 0);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                Append(log, Payload(t * PerThread + i, 40 + (i % 7) * 50));
            }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        threads.ForEach(thread => thread.Join());

        var read = ReadAll(log, 1, 0, out var end);
        Assert.Equal(Threads * PerThread, read.Count);
        Assert.Equal(log.Tail, end);
        Assert.InRange(log.SyncCalls, 1, Threads * PerThread);
        var expected = Enumerable.Range(0, Threads * PerThread).Select(n => Convert.ToHexString(Payload(n, 40 + (n % PerThread % 7) * 50))).Order();
        Assert.Equal(expected, read.Select(r => Convert.ToHexString(r.Payload)).Order());
    }

    [Fact]
    public async Task A_record_written_ahead_of_a_hole_is_not_durable_until_the_hole_is_written()
    {
        using var log = WriteAheadFile.Open(LogPath, 64 * 1024, writable: true);
        log.StartLife(3, 0);
        var first = log.TryReserve(100);
        var second = log.TryReserve(100);
        log.Write(second, Payload(2, 100));
        var waiting = Task.Run(() => log.WaitDurable(second + WriteAheadFile.FrameSize + 100), TestContext.Current.CancellationToken);

        Assert.NotSame(waiting, await Task.WhenAny(waiting, Task.Delay(200, TestContext.Current.CancellationToken)));
        Assert.Empty(ReadAll(log, 3, 0, out _)); // a reader stops at the hole too

        log.Write(first, Payload(1, 100));
        await waiting.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(2, ReadAll(log, 3, 0, out _).Count);
    }

    [Fact]
    public void The_file_fills_until_reclaimed_and_records_wrap_around_its_end()
    {
        const int Capacity = 8192;
        using var log = WriteAheadFile.Open(LogPath, Capacity, writable: true);
        log.StartLife(5, 0);
        var lsns = new List<long>();
        for (var i = 0; log.TryReserve(1000) is var lsn and >= 0; i++)
        {
            log.Write(lsn, Payload(i, 1000));
            lsns.Add(lsn);
        }

        Assert.Equal(Capacity / (WriteAheadFile.FrameSize + 1000), lsns.Count);
        log.WaitDurable(log.Tail);
        log.Reclaim(lsns[4]); // the first four are covered by a checkpoint
        var wrapped = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            wrapped.Add(Append(log, Payload(100 + i, 1000)));
        }

        Assert.Equal(-1, log.TryReserve(1000));
        Assert.Contains(wrapped, lsn => lsn % Capacity + WriteAheadFile.FrameSize + 1000 > Capacity); // one straddles the end

        var read = ReadAll(log, 5, lsns[4], out var end);
        Assert.Equal(lsns.Skip(4).Concat(wrapped), read.Select(r => r.Lsn));
        Assert.Equal(Payload(103, 1000), read[^1].Payload);
        Assert.Equal(log.Tail, end);
        Assert.Empty(ReadAll(log, 5, lsns[0], out _)); // the first lap's records were overwritten
    }

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(24)]
    public void Every_whole_record_is_found_by_the_whole_file_scan_even_one_whose_frame_wraps_past_the_end(int bytesBeforeTheEnd)
    {
        const int Capacity = 8192;
        using var log = WriteAheadFile.Open(LogPath, Capacity, writable: true);
        log.StartLife(9, 0);
        var lsns = Enumerable.Range(0, 3).Select(i => Append(log, Payload(i, 2016))).ToList(); // 2,048-byte records
        lsns.Add(Append(log, Payload(3, Capacity - bytesBeforeTheEnd - 3 * 2048 - WriteAheadFile.FrameSize)));
        Assert.Equal(Capacity - bytesBeforeTheEnd, log.Tail);
        log.Reclaim(lsns[1]);
        var wrapping = Append(log, Payload(4, 100)); // its frame: the file's last bytes, then its first
        Assert.Equal(Capacity - bytesBeforeTheEnd, wrapping);

        var found = new List<long>();
        using var reader = WriteAheadFile.Open(LogPath, 0, writable: false);
        reader.ForEachWholeRecord(9, (lsn, payload) => found.Add(lsn));

        Assert.Equal(new[] { lsns[1], lsns[2], lsns[3], wrapping }, found.Order()); // the first one is overwritten
    }

    [Fact]
    public void Reading_stops_at_a_torn_record_and_at_records_of_an_earlier_life()
    {
        using (var log = WriteAheadFile.Open(LogPath, 64 * 1024, writable: true))
        {
            log.StartLife(11, 0);
            for (var i = 0; i < 6; i++)
            {
                Append(log, Payload(i, 200));
            }

            // A new life after three records (as after a recovery that kept three): its one record hides the rest.
            log.StartLife(12, 3 * (WriteAheadFile.FrameSize + 200));
            Append(log, Payload(50, 200));
        }

        using (var log = WriteAheadFile.Open(LogPath, 0, writable: false))
        {
            Assert.Equal(4, ReadAll(log, 11, 0, out _).Count + ReadAll(log, 12, 3 * (WriteAheadFile.FrameSize + 200), out _).Count);
            Assert.Single(ReadAll(log, 12, 3 * (WriteAheadFile.FrameSize + 200), out _));
        }

        // A flipped byte in the second record's payload: reading stops after the first.
        using (var file = File.OpenHandle(LogPath, FileMode.Open, FileAccess.ReadWrite))
        {
            var at = WriteAheadFile.HeaderSize + (WriteAheadFile.FrameSize + 200) + WriteAheadFile.FrameSize + 17;
            var one = new byte[1];
            RandomAccess.Read(file, one, at);
            one[0] ^= 0x40;
            RandomAccess.Write(file, one, at);
        }

        using (var log = WriteAheadFile.Open(LogPath, 0, writable: false))
        {
            Assert.Single(ReadAll(log, 11, 0, out var end));
            Assert.Equal(WriteAheadFile.FrameSize + 200, end);
        }
    }

    [Fact]
    public void A_file_that_is_not_a_write_ahead_log_is_refused_with_its_path()
    {
        TestFiles.WriteAllBytes(LogPath, new byte[8192]);
        var refused = Assert.Throws<InvalidDataException>(() => WriteAheadFile.Open(LogPath, 0, writable: false));
        Assert.Contains(LogPath, refused.Message);

        File.Delete(LogPath);
        using (WriteAheadFile.Open(LogPath, 8192, writable: true))
        {
        }

        using (var file = File.OpenHandle(LogPath, FileMode.Open, FileAccess.ReadWrite))
        {
            RandomAccess.SetLength(file, 4096 + 100); // cut short
        }

        Assert.Contains("shorter", Assert.Throws<InvalidDataException>(() => WriteAheadFile.Open(LogPath, 0, writable: false)).Message);
    }
}
