using System;
using System.Text;

namespace Pmem.Generators.Emitting;

/// <summary>Writes source text line by line at the current indentation (four spaces per level, LF line ends).</summary>
internal sealed class IndentedWriter
{
    private const string IndentUnit = "    ";
    private readonly StringBuilder _text = new();
    private int _level;

    /// <summary>Writes <paramref name="line"/> at the current indentation; an empty line gets no indentation.</summary>
    public IndentedWriter Line(string line = "")
    {
        if (line.Length != 0)
        {
            for (var i = 0; i < _level; i++)
            {
                _text.Append(IndentUnit);
            }

            _text.Append(line);
        }

        _text.Append('\n');
        return this;
    }

    /// <summary>Writes an opening brace and indents until the returned scope is disposed, which writes the closing brace.</summary>
    public Scope Block(string? header = null)
    {
        if (header is not null)
        {
            Line(header);
        }

        Line("{");
        _level++;
        return new Scope(this);
    }

    public override string ToString() => _text.ToString();

    /// <summary>Ends a <see cref="Block"/>.</summary>
    public readonly struct Scope(IndentedWriter writer) : IDisposable
    {
        public void Dispose()
        {
            writer._level--;
            writer.Line("}");
        }
    }
}
