// DumpWriter -- the object graph as indented text for people: each object once under an id, later occurrences as "→ #id".
using System.Runtime.InteropServices;
using System.Text;

namespace Pmem.Tooling;

/// <summary>
/// Writes <c>pmem dump</c>'s text: an object's first occurrence shows its id, type and properties nested under the
/// property that reaches it; later occurrences are <c>→ #id</c>. Nesting stops at <see cref="MaxDepth"/>: deeper
/// objects are listed afterwards at the top level (so a long chain neither recurses deeply nor runs off the screen).
/// Collections show their count and their first <c>maxItems</c> items, then say how many were left out.
/// Lines are gathered and handed to the output in chunks (<see cref="FlushAt"/>): the tool's stdout writes through
/// at once, and a write(2) per line made a dump of 3 M objects take minutes (bench/RESULTS.md, session 32).
/// </summary>
internal sealed class DumpWriter
{
    public const int MaxDepth = 8;

    /// <summary>Characters gathered before they are written.</summary>
    private const int FlushAt = 1 << 15;

    private readonly GraphReader _reader;
    private readonly TextWriter _out;
    private readonly int _maxItems;
    private readonly Dictionary<long, long> _ids = [];
    private readonly HashSet<long> _shown = [];
    private readonly Queue<long> _later = new();
    private readonly byte[] _scratch = new byte[16];
    private readonly StringBuilder _text = new();

    public DumpWriter(GraphReader reader, TextWriter output, int maxItems)
    {
        _reader = reader;
        _out = output;
        _maxItems = maxItems;
    }

    /// <summary>Objects shown.</summary>
    public long ObjectCount => _shown.Count;

    /// <summary>Writes every object of <paramref name="starts"/> at the top level, each with what it reaches.</summary>
    public void Write(IEnumerable<long> starts)
    {
        var root = _reader.RootOffset;
        try
        {
            foreach (var start in starts)
            {
                if (_shown.Contains(start))
                {
                    continue; // shown nested under an earlier one
                }

                WriteTopLevel(start, start == root ? " (root)" : "");
                while (_later.TryDequeue(out var deeper))
                {
                    WriteTopLevel(deeper, " (nested too deep above)");
                }
            }
        }
        finally
        {
            Flush(); // damage part-way still leaves every line before it, as a dump written line by line did
        }
    }

    private void Line(string text)
    {
        _text.Append(text);
        EndLine();
    }

    private void Line(StringBuilder text)
    {
        _text.Append(text);
        EndLine();
    }

    private void EndLine()
    {
        _text.Append(_out.NewLine);
        if (_text.Length >= FlushAt)
        {
            Flush();
        }
    }

    private void Flush()
    {
        if (_text.Length > 0)
        {
            var chunk = _text.ToString();
            _text.Clear(); // before the write: a write that fails (stdout closed) is not repeated
            _out.Write(chunk);
        }
    }

    private void WriteTopLevel(long offset, string note)
    {
        var line = new StringBuilder();
        WriteObject(line, offset, 0, note);
    }

    /// <summary>Writes "#id type" (the line so far in <paramref name="line"/>) and the object's properties one level deeper.</summary>
    private void WriteObject(StringBuilder line, long offset, int depth, string note = "")
    {
        var type = _reader.ShapeAt(offset, new Where("an object", 0, ""));
        _shown.Add(offset);
        Line($"{line}#{IdOf(offset)} {type.Name}{note}");
        var bytes = _reader.ReadObject(offset, type).ToArray(); // nested objects reuse the reader's buffer
        var indent = new string(' ', 2 * (depth + 1));
        foreach (var property in type.Properties)
        {
            WriteProperty(bytes, offset, type, property, depth + 1, indent);
        }
    }

    private void WriteProperty(byte[] bytes, long offset, TypeShape type, PropertyShape property, int depth, string indent)
    {
        var at = bytes.AsSpan(property.Offset);
        var head = new StringBuilder(indent).Append(property.Name).Append(": ");
        switch (property.Kind)
        {
            case PropertyKind.Scalar:
                Line(head.Append(Scalar(property.Value, at)));
                return;
            case PropertyKind.Nullable:
                Line(head.Append(at[0] == 0 ? "null" : Scalar(property.Value, at[property.NullableValueOffset..])));
                return;
        }

        var slot = MemoryMarshal.Read<long>(at);
        var where = new Where(type.Name, offset, property.Name);
        switch (property.Kind)
        {
            case PropertyKind.String:
                Line(head.Append(Quote(_reader.ReadString(slot, where))));
                return;
            case PropertyKind.Reference:
                if (slot != 0)
                {
                    slot = _reader.CheckReference(slot, property.Value, where);
                }

                WriteReference(head, slot, depth);
                return;
        }

        head.Append(property.Description);
        if (slot == 0)
        {
            Line(head.Append(", not created"));
            return;
        }

        var (count, entries) = _reader.OpenCollection(slot, property, where);
        Line(head.Append(", ").Append(count).Append(count == 1 ? " item" : " items"));
        var itemIndent = indent + "  ";
        long index = 0;
        foreach (var (key, value) in entries)
        {
            if (index == _maxItems)
            {
                Line($"{itemIndent}… {count - index} more (--max-items shows more)");
                break;
            }

            var line = new StringBuilder(itemIndent);
            switch (property.Kind)
            {
                case PropertyKind.List:
                    line.Append('[').Append(index).Append("]: ");
                    WriteElement(line, value, property.Value, where, depth + 1);
                    break;
                case PropertyKind.Set:
                    line.Append("- ");
                    WriteElement(line, key, property.Key!, where, depth + 1);
                    break;
                default:
                    line.Append('[').Append(ElementText(key, property.Key!, where)).Append("]: ");
                    WriteElement(line, value, property.Value, where, depth + 1);
                    break;
            }

            index++;
        }
    }

    /// <summary>Finishes <paramref name="line"/> with the element; a new object is written nested below it.</summary>
    private void WriteElement(StringBuilder line, long slot, ElementShape element, Where where, int depth)
    {
        if (element.Kind == ElementKind.Reference)
        {
            WriteReference(line, _reader.ReadElement(slot, element, _scratch, where).Target, depth);
            return;
        }

        Line(line.Append(ElementText(slot, element, where)));
    }

    private string ElementText(long slot, ElementShape element, Where where)
    {
        var value = _reader.ReadElement(slot, element, _scratch, where);
        return value.Kind == ElementKind.String ? Quote(value.Text) : Scalar(element, _scratch);
    }

    private void WriteReference(StringBuilder line, long target, int depth)
    {
        if (target == 0)
        {
            Line(line.Append("null"));
        }
        else if (_shown.Contains(target))
        {
            Line(line.Append("→ #").Append(IdOf(target)));
        }
        else if (depth >= MaxDepth)
        {
            _shown.Add(target);
            _later.Enqueue(target);
            Line(line.Append("→ #").Append(IdOf(target)).Append(" (below)"));
        }
        else
        {
            WriteObject(line, target, depth);
        }
    }

    private long IdOf(long offset)
    {
        ref var id = ref CollectionsMarshal.GetValueRefOrAddDefault(_ids, offset, out var exists);
        if (!exists)
        {
            id = _ids.Count;
        }

        return id;
    }

    private static string Scalar(ElementShape element, ReadOnlySpan<byte> bytes)
    {
        var text = ScalarText.Text(element.Scalar, bytes);
        return element.Scalar == ScalarKind.Char ? Quote(text, '\'') : text;
    }

    /// <summary>A string in double quotes with C#-style escapes for quotes, backslashes and control characters.</summary>
    /// <summary>Characters of a string the text dump shows.</summary>
    internal const int MaxShownChars = 200;

    private static string Quote(string? text, char quote = '"')
    {
        if (text is null)
        {
            return "null";
        }

        // A long string is cut: a 20,000-character value would fill the screen (--json gives it whole).
        var shown = text.Length <= MaxShownChars ? text.Length : char.IsHighSurrogate(text[MaxShownChars - 1]) ? MaxShownChars - 1 : MaxShownChars;
        var builder = new StringBuilder(shown + 2).Append(quote);
        for (var i = 0; i < shown; i++)
        {
            var c = text[i];
            var paired = char.IsHighSurrogate(c) ? i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
                : char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(text[i - 1]);
            _ = c switch
            {
                '\\' => builder.Append("\\\\"),
                '\n' => builder.Append("\\n"),
                '\r' => builder.Append("\\r"),
                '\t' => builder.Append("\\t"),
                _ when c == quote => builder.Append('\\').Append(c),
                _ when char.IsControl(c) || (char.IsSurrogate(c) && !paired) => builder.Append("\\u").Append(((int)c).ToString("x4")),
                _ => builder.Append(c),
            };
        }

        builder.Append(quote);
        return shown == text.Length ? builder.ToString() : builder.Append($"… ({text.Length} characters)").ToString();
    }
}
