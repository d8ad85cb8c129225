using DiTNet.IO;
using DiTNet.Models;
using DiTNet.Tensors;
using SystemTensors = System.Numerics.Tensors;

namespace DiTNet.Tests.IO;

public sealed class DiTArrayExtensionsTests
{
    private const string Case = "tiny_longskip_streaming";

    [Fact]
    public void Forward_Arrays_MatchesTensorForward()
    {
        var (model, inputs) = Load();
        float[] expected = model.Forward(inputs["x"], inputs["mask"], inputs["mu"], inputs["t"], inputs["spks"], inputs["cond"], streaming: true).ToArray();

        float[] actual = model.Forward(inputs["x"].ToArray(), inputs["mask"].ToArray(), inputs["mu"].ToArray(), inputs["t"].ToArray(),
            inputs["spks"].ToArray(), inputs["cond"].ToArray(), batch: 3, frames: 17, streaming: true);

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Backward_Arrays_MatchesTensorBackward()
    {
        var (model, inputs) = Load();
        using var recording = SafeTensorsFile.Open(FixturePaths.Io(Case));
        var outputGradient = recording.ReadTensor<float>("grad_output");
        model.Forward(inputs["x"], inputs["mask"], inputs["mu"], inputs["t"], inputs["spks"], inputs["cond"], streaming: true);
        var dX = new Tensor<float>(3, 6, 17);
        var dT = new Tensor<float>(3);
        model.Backward(outputGradient, new DiTInputGradients<float> { X = dX, Time = dT });

        var (arrayModel, _) = Load();
        arrayModel.Forward(inputs["x"].ToArray(), inputs["mask"].ToArray(), inputs["mu"].ToArray(), inputs["t"].ToArray(),
            inputs["spks"].ToArray(), inputs["cond"].ToArray(), 3, 17, streaming: true);
        float[] arrayDX = new float[3 * 6 * 17];
        float[] arrayDT = new float[3];
        arrayModel.Backward(outputGradient.ToArray(), 3, 17, dX: arrayDX, dTime: arrayDT);

        Assert.Equal(dX.ToArray(), arrayDX);
        Assert.Equal(dT.ToArray(), arrayDT);
    }

    [Fact]
    public void Forward_SystemTensors_MatchesTensorForward()
    {
        var (model, inputs) = Load();
        float[] expected = model.Forward(inputs["x"], inputs["mask"], inputs["mu"], inputs["t"], inputs["spks"], inputs["cond"], streaming: true).ToArray();

        var actual = model.Forward(
            ToSystem(inputs["x"]), ToSystem(inputs["mask"]), ToSystem(inputs["mu"]),
            ToSystem(inputs["t"]), ToSystem(inputs["spks"]), ToSystem(inputs["cond"]), streaming: true);

        Assert.Equal([3, 6, 17], actual.Lengths.ToArray().Select(length => (int)length));
        float[] flat = new float[actual.FlattenedLength];
        actual.FlattenTo(flat);
        Assert.Equal(expected, flat);
    }

    [Fact]
    public void Forward_StridedSystemTensor_ReadsThroughStrides()
    {
        var (model, inputs) = Load();
        float[] expected = model.Forward(inputs["x"], inputs["mask"], inputs["mu"], inputs["t"], inputs["spks"], inputs["cond"], streaming: true).ToArray();

        // store x frames-first [B, N, M] and view it channels-first [B, M, N] through strides
        var x = inputs["x"];
        float[] framesFirst = new float[x.Length];
        for (int b = 0; b < 3; b++)
        {
            for (int m = 0; m < 6; m++)
            {
                for (int n = 0; n < 17; n++)
                {
                    framesFirst[(b * 17 + n) * 6 + m] = x[(b * 6 + m) * 17 + n];
                }
            }
        }
        var strided = SystemTensors.Tensor.Create(framesFirst, [3, 6, 17], [17 * 6, 1, 6]);
        var actual = model.Forward(strided, ToSystem(inputs["mask"]), ToSystem(inputs["mu"]),
            ToSystem(inputs["t"]), ToSystem(inputs["spks"]), ToSystem(inputs["cond"]), streaming: true);

        Assert.False(strided.IsDense);
        float[] flat = new float[actual.FlattenedLength];
        actual.FlattenTo(flat);
        Assert.Equal(expected, flat);
    }

    [Fact]
    public void Forward_ArrayOfWrongLength_ThrowsNamingIt()
    {
        var (model, inputs) = Load();

        var error = Assert.Throws<ArgumentException>(() => model.Forward(inputs["x"].ToArray(), inputs["mask"].ToArray(), new float[7],
            inputs["t"].ToArray(), inputs["spks"].ToArray(), inputs["cond"].ToArray(), 3, 17));

        Assert.Equal("mu", error.ParamName);
        Assert.Contains("[3, 5, 17]", error.Message);
    }

    [Fact]
    public void Forward_SystemTensorOfWrongShape_ThrowsNamingIt()
    {
        var (model, inputs) = Load();
        var spks = SystemTensors.Tensor.Create(new float[3 * 4], [3, 4]);

        var error = Assert.Throws<ArgumentException>(() => model.Forward(
            ToSystem(inputs["x"]), ToSystem(inputs["mask"]), ToSystem(inputs["mu"]), ToSystem(inputs["t"]), spks, ToSystem(inputs["cond"])));

        Assert.Equal("spks", error.ParamName);
    }

    private static (DiT<float> Model, Dictionary<string, Tensor<float>> Inputs) Load()
    {
        using var recording = SafeTensorsFile.Open(FixturePaths.Io(Case));
        var config = DiTConfigJson.Parse(recording.Metadata["config"]);
        var model = DiTCheckpoint.Load<float>(FixturePaths.Weights(Case), config);
        var inputs = new[] { "x", "mask", "mu", "t", "spks", "cond" }
            .ToDictionary(name => name, name => recording.ReadTensor<float>("input." + name));
        return (model, inputs);
    }

    private static SystemTensors.Tensor<float> ToSystem(Tensor<float> tensor) =>
        SystemTensors.Tensor.Create(tensor.ToArray(), tensor.Shape.ToArray().Select(dim => (nint)dim).ToArray());
}
