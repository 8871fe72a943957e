// RedoReader -- walks encoded redo entries: the one decoder the apply, recovery and validation share.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Pmem.Log;

/// <summary>Walks encoded redo entries (the one decoder Apply, recovery's checks and validation share).</summary>
internal ref struct RedoReader(ReadOnlySpan<byte> entries)
{
    private readonly ReadOnlySpan<byte> _entries = entries;
    private int _position;

    public RedoOperation Operation { get; private set; }

    public long Target { get; private set; }

    /// <summary>Bytes the entry covers: Set's data length, 8 for Or/And, the verified range for Verify.</summary>
    public long Length { get; private set; }

    /// <summary>The mask of Or/And, the expected hash of Verify.</summary>
    public ulong Operand { get; private set; }

    /// <summary>The bytes a Set stores.</summary>
    public ReadOnlySpan<byte> Data { get; private set; }

    /// <summary>Moves to the next entry; false at the end, or with <paramref name="error"/> when the encoding is broken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // Apply runs it per entry on every commit
    public bool MoveNext(out string? error)
    {
        error = null;
        var remaining = _entries.Length - _position;
        if (remaining == 0)
        {
            return false;
        }

        if (remaining < 16)
        {
            error = "an entry is cut short";
            return false;
        }

        var head = BinaryPrimitives.ReadUInt64LittleEndian(_entries[_position..]);
        var operand = BinaryPrimitives.ReadUInt64LittleEndian(_entries[(_position + 8)..]);
        Operation = (RedoOperation)(head >> 56);
        Target = (long)(head & RedoBuilder.TargetMask);
        _position += 16;
        remaining -= 16;
        switch (Operation)
        {
            case RedoOperation.Set:
                var padded = (long)((operand + 7) & ~7UL);
                if (operand > int.MaxValue || padded > remaining)
                {
                    error = "an entry's data runs past the log";
                    return false;
                }

                Length = (long)operand;
                Data = _entries.Slice(_position, (int)operand);
                _position += (int)padded;
                return true;
            case RedoOperation.Or or RedoOperation.And:
                Length = 8;
                Operand = operand;
                return true;
            case RedoOperation.Verify:
                if (operand > RedoBuilder.VerifyLimit || remaining < 8)
                {
                    error = "a verify entry is cut short or too long";
                    return false;
                }

                Length = (long)operand;
                Operand = BinaryPrimitives.ReadUInt64LittleEndian(_entries[_position..]);
                _position += 8;
                return true;
            default:
                error = $"unknown operation {(byte)Operation}";
                return false;
        }
    }
}
