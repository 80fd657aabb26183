"The image size a command chooses when none is given is one every named network takes (Inception v3: 75 px and up)"

def test_train_synthetic_picks_a_size_the_network_takes(cli, tmp_path):
    "`medfast train --arch inception_v3` on the synthetic set: trained at 75 px, where 64 px was refused after the data were made"
    r = cli('train', '--arch', 'inception_v3', '--pretrained', 'no', '--n-synthetic', 20, '--epochs', 1, '--bs', 8,
            '--out', tmp_path/'run', '--quiet')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'needs images of at least' not in r.stderr and (tmp_path/'run'/'model.json').is_file()

def test_compare_picks_one_size_every_network_takes(cli, compare_xrays, tmp_path):
    "`medfast compare basenet inception_v3`: one size for both, the larger network minimum (75 px), not the smallest default (64)"
    r = cli('compare', 'basenet', 'inception_v3', '--data', compare_xrays, '--pretrained', 'no', '--epochs', 1, '--bs', 8,
            '--test', 'none', '--n-boot', 0, '--quiet', '--out', tmp_path/'c')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Image size 75 px' in r.stdout, r.stdout
