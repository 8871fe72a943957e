using Pmem.Tool.Output;

namespace Pmem.Tool.Tests;

public sealed class CommandLineTests
{
    [Theory]
    [InlineData("--help")]
    [InlineData("info --help")]
    [InlineData("check --help")]
    [InlineData("backup --help")]
    [InlineData("-h")]
    [InlineData("info -h")]
    public void Help_works_for_every_command_and_exits_0(string args)
    {
        var run = ToolHarness.Run(args.Split(' '));

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Usage:", run.Out);
        Assert.Contains("--help", run.Out);
        Assert.Equal("", run.Error);
    }

    [Fact]
    public void Root_help_lists_the_commands_and_exit_codes()
    {
        var run = ToolHarness.Run("--help");

        Assert.Contains("info", run.Out);
        Assert.Contains("check", run.Out);
        Assert.Contains("backup", run.Out);
        Assert.Contains("Exit codes", run.Out);
        Assert.Contains("pmem [command] [options]", run.Out); // named pmem, not after the executable or test host
    }

    [Fact]
    public void Version_prints_the_version_and_exits_0()
    {
        var run = ToolHarness.Run("--version");

        Assert.Equal(0, run.ExitCode);
        Assert.StartsWith("0.", run.Out);
    }

    [Theory]
    [InlineData("info", "--json")]
    [InlineData("check", "--json")]
    [InlineData("backup", "--force")]
    [InlineData("backup", "--json")]
    [InlineData("info", "--temp-dir")]
    public void Each_command_documents_its_options(string command, string option)
    {
        Assert.Contains(option, ToolHarness.Run(command, "--help").Out);
    }

    [Theory]
    [InlineData("")]
    [InlineData("frobnicate")]
    [InlineData("info")]
    [InlineData("backup only-one-argument")]
    [InlineData("check a.pool --no-such-option")]
    public void Bad_command_lines_exit_2_with_a_usage_hint(string args)
    {
        var run = ToolHarness.Run(args.Length == 0 ? [] : args.Split(' '));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--help", run.Error);
        Assert.Equal("", run.Out);
    }

    [Theory]
    [InlineData(true, null, true)]
    [InlineData(true, "", true)]
    [InlineData(true, "1", false)]
    [InlineData(false, null, false)]
    public void Colour_only_on_a_terminal_and_without_NO_COLOR(bool terminal, string? noColor, bool expected)
    {
        Assert.Equal(expected, ToolConsole.ShouldUseColor(terminal, noColor));
    }
}
