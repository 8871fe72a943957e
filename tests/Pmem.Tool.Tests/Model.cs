using Pmem.Objects;

namespace Pmem.Tool.Tests;

/// <summary>The root of the test pools.</summary>
[PersistentObject(Name = "tooltests.library")]
public partial class Library
{
    /// <summary>A string, so the pool holds string blocks.</summary>
    public partial string? Name { get; set; }

    /// <summary>A reference: the field the damage tests point elsewhere.</summary>
    public partial Book? Featured { get; set; }

    /// <summary>A collection of references.</summary>
    public partial PersistentList<Book?> Books { get; }
}

/// <summary>An object the root reaches through its list.</summary>
[PersistentObject(Name = "tooltests.book")]
public partial class Book
{
    /// <summary>A string field.</summary>
    public partial string? Title { get; set; }

    /// <summary>A number.</summary>
    public partial int Pages { get; set; }
}
