// TextWriterStream -- a write-only stream that decodes UTF-8 onto a TextWriter, so JSON writers can stream to the console.
using System.Text;

namespace Pmem.Tool.Output;

/// <summary>
/// Lets a <see cref="System.Text.Json.Utf8JsonWriter"/> write to the tool's <see cref="TextWriter"/> output (the
/// console, or a test's writer) as it goes, instead of building the whole document in memory first.
/// </summary>
internal sealed class TextWriterStream(TextWriter writer) : WriteOnlyStream
{
    private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
    private char[] _chars = new char[4096];

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var needed = _decoder.GetCharCount(buffer, flush: false);
        if (_chars.Length < needed)
        {
            _chars = new char[needed];
        }

        var written = _decoder.GetChars(buffer, _chars, flush: false);
        writer.Write(_chars, 0, written);
    }

    public override void Flush() => writer.Flush();
}
