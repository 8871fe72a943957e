// InMemoryAdditionalText -- an AdditionalFiles item for tests, with its path and text in memory.
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Pmem.Generators.Tests.Infrastructure;

/// <summary>An <c>AdditionalFiles</c> item of a test project: a path and a text, nothing on disk.</summary>
internal sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text);

    /// <inheritdoc />
    public override string Path { get; } = path;

    /// <inheritdoc />
    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}
