using System.Reflection;
using System.Reflection.Emit;
using Pmem.Pool;

namespace Pmem.Tests;

/// <summary>
/// Pmem.Core's namespaces depend on each other one way only, down the layers of <c>docs/architecture.md</c>:
/// Memory, Log, Heap, Transactions, Pool, Objects, Tooling (the simulated domain is not among them: it lives in the
/// Pmem.Testing assembly, above all of them). Dependencies are read from the compiled assembly at test time
/// (base types, interfaces, constraints, fields, signatures, locals and every type, method and field a method body
/// names), so a call hidden in a method body counts as much as a parameter type.
/// </summary>
/// <remarks>
/// <para>Two kinds of exception, both listed here and in docs/architecture.md:</para>
/// <para>Pinned contract types are public types whose namespace users import (so it cannot follow their folder) but
/// which depend on nothing above the layers that use them: the pool's exceptions, thrown by the log and the heap, and
/// the object contract the pool reads (type info, property and field descriptions, the type registry, the type-mismatch exception). Each is a node of its own
/// in the graph, so its own dependencies are checked too.</para>
/// <para>Allowed edges close the one cycle the public API makes on purpose: <c>PersistentPool.New&lt;T&gt;()</c>,
/// <c>Root&lt;T&gt;()</c> and <c>Delete</c> take and make <see cref="Objects.PersistentObject"/>s (through
/// <c>IPersistentObject&lt;T&gt;.Attach(ObjectHandle)</c>), and every persistent object knows its pool. Breaking it
/// would change the public API, so the pool's edges to exactly those three types are allowed and no other.</para>
/// </remarks>
public sealed class NamespaceDependencyTests
{
    /// <summary>The layers, bottom first. A namespace may depend on its own layer and those below.</summary>
    private static readonly string[] Layers =
    [
        "Pmem.Memory",
        "Pmem.Log",
        "Pmem.Heap",
        "Pmem.Transactions",
        "Pmem.Pool",
        "Pmem.Objects",
        "Pmem.Tooling",
    ];

    /// <summary>Public types kept in a namespace above the layers that use them (see the class remarks).</summary>
    private static readonly string[] PinnedContracts =
    [
        "Pmem.Pool.PoolException",
        "Pmem.Pool.PoolCorruptedException",
        "Pmem.Pool.PoolOutOfSpaceException",
        "Pmem.Pool.TransactionTooLargeException",
        "Pmem.Pool.PoolReadOnlyException", // thrown by the commit pipeline in a read-only pool
        "Pmem.Objects.PersistentTypeMismatchException",
        "Pmem.Objects.PersistentDanglingReferenceException", // a reference read by the pool finds its object deleted
        "Pmem.Objects.PersistentTypeInfo",
        "Pmem.Objects.PersistentPropertyInfo", // part of PersistentTypeInfo's schema since issue 14
        "Pmem.Objects.PersistentFieldInfo",
        "Pmem.Objects.PersistentFieldKind",
        "Pmem.Objects.PersistentIndexKind", // part of PersistentPropertyInfo since indexes
        "Pmem.Objects.PersistentPropertyInfo",
        "Pmem.Objects.PersistentTypeRegistry",
    ];

    /// <summary>
    /// Uses allowed although they close a cycle (a namespace, the type it may use): the pool makes and takes persistent
    /// objects. Only these types: any other use of <c>Pmem.Objects</c> by <c>Pmem.Pool</c> still fails.
    /// </summary>
    private static readonly (string From, string To)[] AllowedEdges =
    [
        ("Pmem.Pool", "Pmem.Objects.PersistentObject"),
        ("Pmem.Pool", "Pmem.Objects.IPersistentObject`1"),
        ("Pmem.Pool", "Pmem.Objects.ObjectHandle"),
    ];

    private static readonly Lazy<Dictionary<(string From, string To), string>> s_typeEdges = new(() => ReadEdges(byType: true));
    private static readonly Lazy<Dictionary<(string From, string To), string>> s_edges = new(() => ReadEdges(byType: false));

    [Fact]
    public void The_namespaces_of_Pmem_Core_have_no_cycle_beyond_the_allowed_edges()
    {
        var graph = Graph();
        var cycle = FindCycle(graph);
        Assert.True(cycle is null, cycle is null ? "" : $"namespace cycle: {string.Join(" -> ", cycle)}\n{Evidence(cycle)}");
    }

    [Fact]
    public void Namespaces_depend_only_on_their_own_layer_and_those_below()
    {
        var rank = Layers.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i);
        var upward = s_edges.Value
            .Where(e => rank.ContainsKey(e.Key.From) && rank.ContainsKey(e.Key.To) && rank[e.Key.To] > rank[e.Key.From])
            .Select(e => $"{e.Key.From} -> {e.Key.To} ({e.Value})")
            .ToList();
        Assert.True(upward.Count == 0, string.Join("\n", upward));
    }

    [Fact]
    public void Every_namespace_of_Pmem_Core_is_in_a_layer()
    {
        var namespaces = typeof(PersistentPool).Assembly.GetTypes()
            .Select(t => t.Namespace)
            .Where(n => n is not null && n.StartsWith("Pmem", StringComparison.Ordinal))
            .Distinct()
            .ToList();
        Assert.All(namespaces, n => Assert.Contains(n, Layers));
    }

    [Fact]
    public void The_simulation_and_crash_campaigns_live_in_the_testing_assembly_only()
    {
        // Test-time code leaves the product package: Pmem.Testing builds on Pmem.Core, never the other way round.
        var product = typeof(PersistentPool).Assembly;
        var testing = typeof(Pmem.Memory.Simulation.SimulatedDomain).Assembly;
        Assert.Equal("Pmem.Testing", testing.GetName().Name);
        Assert.DoesNotContain(product.GetTypes(), t => t.Namespace == "Pmem.Memory.Simulation");
        Assert.Equal(typeof(Pmem.Memory.Simulation.CrashCampaign).Assembly, testing);
        Assert.DoesNotContain(product.GetReferencedAssemblies(), a => a.Name == "Pmem.Testing");
        Assert.Contains(testing.GetReferencedAssemblies(), a => a.Name == product.GetName().Name);
    }

    [Fact]
    public void Every_allowed_edge_and_pinned_contract_is_still_needed()
    {
        var typeEdges = s_typeEdges.Value;
        Assert.All(AllowedEdges, e => Assert.True(typeEdges.ContainsKey(e), $"{e.From} -> {e.To} no longer exists: drop it from the allowed edges"));

        // A pinned type is needed when a namespace below its own, or another pinned type, depends on it.
        var rank = Layers.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i);
        foreach (var pinned in PinnedContracts)
        {
            var home = pinned[..pinned.LastIndexOf('.')];
            Assert.True(
                s_edges.Value.Keys.Any(e => e.To == pinned && (PinnedContracts.Contains(e.From) || (rank.TryGetValue(e.From, out var from) && from < rank[home]))),
                $"{pinned} is used by no layer below {home}: it need not be pinned");
        }
    }

    [Fact]
    public void The_reader_sees_dependencies_inside_method_bodies()
    {
        // TransactionCommit names the heap only inside its method bodies (through the pool's Heap property and calls
        // on it): if this edge is missing, the reader misses bodies and the other tests prove nothing.
        Assert.Contains(("Pmem.Transactions", "Pmem.Heap"), s_edges.Value.Keys);
        Assert.Contains(("Pmem.Pool", "Pmem.Log"), s_edges.Value.Keys);
    }

    private static Dictionary<string, HashSet<string>> Graph()
    {
        var graph = new Dictionary<string, HashSet<string>>();
        foreach (var (from, to) in s_edges.Value.Keys)
        {
            (graph.TryGetValue(from, out var set) ? set : graph[from] = []).Add(to);
        }

        return graph;
    }

    private static List<string>? FindCycle(Dictionary<string, HashSet<string>> graph)
    {
        var state = new Dictionary<string, int>(); // 1 on the stack, 2 done
        var stack = new List<string>();
        List<string>? Visit(string node)
        {
            state[node] = 1;
            stack.Add(node);
            foreach (var next in graph.GetValueOrDefault(node) ?? [])
            {
                if (state.GetValueOrDefault(next) == 1)
                {
                    return [.. stack[stack.IndexOf(next)..], next];
                }

                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } found)
                {
                    return found;
                }
            }

            stack.RemoveAt(stack.Count - 1);
            state[node] = 2;
            return null;
        }

        foreach (var node in graph.Keys.Order())
        {
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle)
            {
                return cycle;
            }
        }

        return null;
    }

    private static string Evidence(List<string> cycle) =>
        string.Join("\n", cycle.Zip(cycle.Skip(1)).Select(p => $"  {p.First} -> {p.Second}: {s_edges.Value[(p.First, p.Second)]}"));

    /// <summary>
    /// Every node-to-node edge of the assembly, less the allowed ones, with one type-level example of each; or, with
    /// <paramref name="byType"/>, every edge from a node to a type of another node (allowed ones included).
    /// </summary>
    private static Dictionary<(string From, string To), string> ReadEdges(bool byType)
    {
        var assembly = typeof(PersistentPool).Assembly;
        var edges = new Dictionary<(string, string), string>();
        foreach (var type in assembly.GetTypes())
        {
            var from = NodeOf(type, assembly);
            if (from is null)
            {
                continue;
            }

            foreach (var used in Dependencies(type))
            {
                if (NodeOf(used, assembly) is not { } to || to == from)
                {
                    continue;
                }

                var usedName = Outermost(used).FullName!;
                var example = $"{Outermost(type).FullName} uses {used.FullName ?? used.Name}";
                if (byType)
                {
                    edges.TryAdd((from, usedName), example);
                }
                else if (!AllowedEdges.Contains((from, usedName)))
                {
                    edges.TryAdd((from, to), example);
                }
            }
        }

        return edges;
    }

    private static string? NodeOf(Type type, Assembly assembly)
    {
        if (type.IsGenericParameter || type.Assembly != assembly)
        {
            return null;
        }

        var outer = Outermost(type);
        if (outer.Namespace is not { } ns || !ns.StartsWith("Pmem", StringComparison.Ordinal))
        {
            return null; // compiler-made types such as <PrivateImplementationDetails>
        }

        return PinnedContracts.Contains(outer.FullName) ? outer.FullName! : ns;
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is { } outer)
        {
            type = outer;
        }

        return type.IsGenericType ? type.GetGenericTypeDefinition() : type;
    }

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static IEnumerable<Type> Dependencies(Type type)
    {
        var found = new List<Type>();
        void Add(Type? t)
        {
            if (t is null)
            {
                return;
            }

            if (t.HasElementType)
            {
                Add(t.GetElementType());
                return;
            }

            if (t.IsGenericParameter)
            {
                return;
            }

            if (t.IsGenericType)
            {
                found.Add(t.GetGenericTypeDefinition());
                foreach (var argument in t.GetGenericArguments())
                {
                    Add(argument);
                }

                return;
            }

            found.Add(t);
        }

        Add(type.BaseType);
        foreach (var i in type.GetInterfaces())
        {
            Add(i);
        }

        foreach (var parameter in type.IsGenericTypeDefinition ? type.GetGenericArguments() : [])
        {
            foreach (var constraint in parameter.GetGenericParameterConstraints())
            {
                Add(constraint);
            }
        }

        foreach (var field in type.GetFields(All))
        {
            Add(field.FieldType);
        }

        foreach (var property in type.GetProperties(All))
        {
            Add(property.PropertyType);
        }

        foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            if (method is MethodInfo info)
            {
                Add(info.ReturnType);
                foreach (var argument in info.IsGenericMethodDefinition ? info.GetGenericArguments() : [])
                {
                    foreach (var constraint in argument.GetGenericParameterConstraints())
                    {
                        Add(constraint);
                    }
                }
            }

            foreach (var parameter in method.GetParameters())
            {
                Add(parameter.ParameterType);
            }

            var body = method.GetMethodBody();
            if (body is null)
            {
                continue;
            }

            foreach (var local in body.LocalVariables)
            {
                Add(local.LocalType);
            }

            foreach (var member in MembersNamedIn(method, body.GetILAsByteArray() ?? []))
            {
                switch (member)
                {
                    case Type t:
                        Add(t);
                        break;
                    case FieldInfo f:
                        Add(f.DeclaringType);
                        Add(f.FieldType);
                        break;
                    case MethodBase m:
                        Add(m.DeclaringType);
                        if (m is MethodInfo mi)
                        {
                            Add(mi.ReturnType);
                            foreach (var argument in mi.IsGenericMethod ? mi.GetGenericArguments() : [])
                            {
                                Add(argument);
                            }
                        }

                        foreach (var parameter in m.GetParameters())
                        {
                            Add(parameter.ParameterType);
                        }

                        break;
                }
            }
        }

        return found;
    }

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The types, fields and methods a method body's instructions name (by their metadata tokens).</summary>
    private static IEnumerable<MemberInfo> MembersNamedIn(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var members = new List<MemberInfo>();
        var i = 0;
        while (i < il.Length)
        {
            short value = il[i++];
            if (value == 0xFE)
            {
                value = (short)(0xFE00 | il[i++]);
            }

            var opCode = s_opCodes[value];
            switch (opCode.OperandType)
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                    var token = BitConverter.ToInt32(il, i);
                    members.Add(module.ResolveMember(token, typeArguments, methodArguments)!);
                    i += 4;
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    i += 8;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + 4 * BitConverter.ToInt32(il, i);
                    break;
                default: // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
                    i += 4;
                    break;
            }
        }

        return members;
    }
}
